"""An on-device run from its config: JAX environment, agent, learner, the runtime, its loop."""

import functools
import math
from typing import Callable

import jax
import ml_collections
import numpy as np

from core import learner as learner_lib
from core import optim
from core import parallel
from core.runtime import on_device
from envs import registry as env_registry
from experiments import agents
from experiments import train as train_lib


def total_updates(config) -> int:
  frames_per_update = config.runtime.num_envs * config.runtime.unroll_length
  calls = math.ceil(config.total_frames / (frames_per_update * config.runtime.updates_per_call))
  return calls * config.runtime.updates_per_call


def build(config: ml_collections.ConfigDict,
          make_agent: Callable | None = None) -> on_device.Runtime:
  """The on-device runtime described by ``config`` (validated beforehand).

  ``make_agent(env_spec, agent_config) -> Agent`` defaults to the registered family of
  ``config.agent.name``.
  """
  make_agent = make_agent or agents.make_agent
  env = env_registry.make(config.env.name, **config.env.kwargs.to_dict())
  agent = make_agent(env.spec, config.agent)
  optimizer = optim.make_optimizer(config.optimizer, total_updates(config))
  num_devices = config.runtime.num_devices or jax.device_count()
  mesh = parallel.make_mesh(num_devices) if num_devices > 1 else None
  return on_device.make(
      agent, env, learner_lib.learner_for(agent, optimizer),
      num_envs=config.runtime.num_envs,
      unroll_length=config.runtime.unroll_length,
      updates_per_call=config.runtime.updates_per_call,
      num_eval_episodes=config.num_eval_episodes,
      mesh=mesh)


def summarise(window: list[dict], elapsed_s: float) -> dict:
  """Averages a log interval's per-call metrics; episode statistics are pooled."""
  del elapsed_s
  window = jax.device_get(window)
  episodes = sum(float(m['episodes']) for m in window)
  summary = {k: float(np.mean([m[k] for m in window]))
             for k in window[0] if k not in ('episodes', 'return_sum', 'length_sum')}
  summary['episodes'] = episodes
  if episodes:
    summary['episode_return'] = sum(float(m['return_sum']) for m in window) / episodes
    summary['episode_length'] = sum(float(m['length_sum']) for m in window) / episodes
  return summary


def make_run(config: ml_collections.ConfigDict,
             make_agent: Callable | None = None) -> train_lib.Run:
  runtime = build(config, make_agent)

  def finish(state):
    evaluation = runtime.evaluate(state.learner.params, jax.random.PRNGKey(config.seed + 1))
    return {'eval_return': float(np.mean(np.asarray(evaluation.episode_return))),
            'eval_completed': float(np.mean(np.asarray(evaluation.completed)))}

  return train_lib.Run(
      state=runtime.init(jax.random.PRNGKey(config.seed)),
      place=train_lib.placer(runtime.state_sharding),
      update_of=lambda state: int(state.learner.update),
      session=train_lib.fixed_session(runtime.update),
      summarise=summarise,
      num_updates=total_updates(config),
      updates_per_step=runtime.updates_per_call,
      frames_per_update=runtime.frames_per_update,
      unit='frames',
      progress_keys=('episode_return', 'loss'),
      plot_keys=('episode_return', 'loss', 'entropy', 'grad_norm', 'eval_return'),
      finish=finish)


def train(config, workdir, *, make_agent: Callable | None = None, **kwargs):
  """Trains (or resumes) an on-device experiment in ``workdir`` (``train_lib.run``)."""
  return train_lib.run(config, workdir, functools.partial(make_run, config, make_agent),
                       **kwargs)
