"""A memory model is a recurrent core like the LSTM: it drops into the actor-critic agent
unchanged and learns the cue-memory task there."""

import jax
import numpy as np
import optax
import pytest

from agents.actor_critic import agent as agent_lib
from configs import actor_critic as configs
from core import learner as learner_lib
from core.runtime import on_device
from envs import registry
from memory import cores


@pytest.mark.parametrize('name', ['sam', pytest.param('dnc', marks=pytest.mark.slow)])
def test_memory_core_learns_cue_memory_in_the_agent(name):
  config = configs.get_config('memory')          # 4 cues, a delay of 5 steps
  env = registry.make(config.env.name, **config.env.kwargs.to_dict())
  core = cores.make_core(name, controller_size=32, num_rows=16, word_size=8, num_reads=1,
                         k=2)
  agent = agent_lib.make_agent(env.spec, config.agent, core=core)
  runtime = on_device.make(agent, env, learner_lib.make_learner(agent.loss, optax.adam(3e-3)),
                           num_envs=32, unroll_length=10, updates_per_call=25,
                           num_eval_episodes=64)
  state = runtime.init(jax.random.PRNGKey(0))
  before = runtime.evaluate(state.learner.params, jax.random.PRNGKey(1))
  for _ in range(4):                              # 100 updates, 32,000 agent steps
    state, _ = runtime.update(state)
  after = runtime.evaluate(state.learner.params, jax.random.PRNGKey(1))
  # Return 1 per correct answer: the mean return is the fraction correct (chance: 1/4).
  assert np.mean(before.episode_return) < 0.5
  assert np.mean(after.episode_return) >= 0.9
