"""Any recurrent core drops into the actor-critic agent unchanged: an LSTM and a small
external memory of N rows run through the same agent, runtime and learner."""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents.actor_critic import agent as agent_lib
from configs import actor_critic as configs
from core import learner as learner_lib
from core import recurrent
from core.nn import lstm
from core.runtime import on_device
from envs import registry

ROWS, WIDTH = 8, 16


class MemoryState(NamedTuple):
  memory: jax.Array  # [B, N, W]
  cursor: jax.Array  # [B] int32: the row written next


def ring_memory_core() -> recurrent.RecurrentCore:
  """Writes a projection of each input to the next of N rows; reads by attention."""
  write = nn.Dense(WIDTH)
  query = nn.Dense(WIDTH)

  def init(key, x):
    k1, k2 = jax.random.split(key)
    return {'write': write.init(k1, x), 'query': query.init(k2, x)}

  def initial_state(params, key, batch_size):
    del params, key
    return MemoryState(jnp.zeros((batch_size, ROWS, WIDTH)),
                       jnp.zeros((batch_size,), jnp.int32))

  def step(params, state, x):
    rows = jnp.arange(state.memory.shape[0])
    memory = state.memory.at[rows, state.cursor].set(write.apply(params['write'], x))
    q = query.apply(params['query'], x)
    weights = jax.nn.softmax(jnp.einsum('bw,bnw->bn', q, memory))
    read = jnp.einsum('bn,bnw->bw', weights, memory)
    return MemoryState(memory, (state.cursor + 1) % ROWS), jnp.concatenate([x, read], -1)

  def reset(params, state, first):
    # Only the rows of the batch that start an episode are cleared, under a cond.
    return recurrent.unroll_lib.reset_rows(
        first, initial_state(params, None, first.shape[0]), state)

  return recurrent.RecurrentCore(init, initial_state, step, reset)


# Slow: the LSTM agent's loss is checked in test_actor_critic.py and a memory core trains
# in the agent in tests/memory/test_memory_in_agent.py.
@pytest.mark.slow
@pytest.mark.parametrize('make_core', [lambda: lstm.lstm_core(32), ring_memory_core],
                         ids=['lstm', 'ring_memory'])
def test_core_trains_in_the_actor_critic_agent(make_core):
  config = configs.get_config('memory')
  env = registry.make(config.env.name, **config.env.kwargs.to_dict())
  agent = agent_lib.make_agent(env.spec, config.agent, core=make_core())
  runtime = on_device.make(agent, env, learner_lib.make_learner(agent.loss, optax.adam(3e-3)),
                           num_envs=8, unroll_length=10, updates_per_call=5,
                           num_eval_episodes=8)
  state = runtime.init(jax.random.PRNGKey(0))
  before = jax.tree.map(np.asarray, state.learner.params)
  for _ in range(2):
    state, metrics = runtime.update(state)
  assert int(state.learner.update) == 10
  assert np.isfinite(float(metrics['loss']))
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b), before,
                         jax.device_get(state.learner.params))
  assert all(jax.tree.leaves(changed['core']))  # the core's parameters are learnt
  result = runtime.evaluate(state.learner.params, jax.random.PRNGKey(1))
  assert result.episode_return.shape == (8,)
