"""An asynchronous (A3C-family) run from its config: Hogwild! workers over host envs.

Each worker builds its own agent, learner and environment from the config
(``make_worker_parts``, a module-level function so worker processes can unpickle it).
Records pool the workers' reports of each log interval: mean loss metrics, environment
frames/s, updates/s and where the workers' time went (acting, gradients, applying). At the
end the final policy plays ``num_eval_episodes`` fresh episodes (``eval_return``).
"""

import contextlib
import functools
import math
import os
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from core import learner as learner_lib
from core import optim
from core.runtime import async_workers
from envs import host_registry
from experiments import host_play
from experiments import agents
from experiments import train as train_lib


def num_workers(config) -> int:
  """``runtime.num_workers``, or the machine's cores where it is 0."""
  return config.runtime.num_workers or os.cpu_count() or 1


def frames_per_update(config, frames_per_step: int) -> int:
  rt = config.runtime
  return rt.unroll_length * rt.envs_per_worker * frames_per_step


def total_updates(config, frames_per_step: int) -> int:
  return math.ceil(config.total_frames / frames_per_update(config, frames_per_step))


def make_agent_and_learner(config, spec, frames_per_step: int,
                           make_agent: Callable | None = None):
  make_agent = make_agent or agents.make_agent
  agent = make_agent(spec, config.agent)
  optimizer = optim.make_optimizer(config.optimizer, total_updates(config, frames_per_step))
  return agent, learner_lib.learner_for(agent, optimizer)


def make_worker_parts(config: ml_collections.ConfigDict, frames_per_step: int,
                      worker_id: int, make_agent: Callable | None = None
                      ) -> async_workers.WorkerParts:
  """One worker's agent, learner and environment (runs inside the worker)."""
  del worker_id  # workers differ by seed only (async_workers.worker_seed)
  env = host_registry.make_host(config.env.name, num_envs=config.runtime.envs_per_worker,
                                **config.env.kwargs.to_dict())
  agent, learner = make_agent_and_learner(config, env.spec, frames_per_step, make_agent)
  return async_workers.WorkerParts(agent, learner, env)


def build(config: ml_collections.ConfigDict, make_agent: Callable | None = None):
  """The ``AsyncWorkers`` runtime, the fresh learner state and frames per agent step.

  ``make_agent`` (default: the registered family) must be picklable for the process
  backend.
  """
  spec, frames_per_step = host_play.probe_env(config)
  agent, learner = make_agent_and_learner(config, spec, frames_per_step, make_agent)
  example = jnp.zeros((1,) + tuple(spec.observation_shape), spec.observation_dtype)
  state = jax.device_get(learner.init(agent.init(jax.random.PRNGKey(config.seed), example)))
  rt = config.runtime
  runtime = async_workers.AsyncWorkers(
      functools.partial(make_worker_parts, config, frames_per_step, make_agent=make_agent),
      num_workers=num_workers(config), unroll_length=rt.unroll_length,
      num_updates=total_updates(config, frames_per_step), seed=config.seed,
      backend=rt.backend, deterministic=rt.deterministic)
  return runtime, state, frames_per_step


def summarise(window: list, elapsed_s: float, frames_per_step: int) -> dict:
  """One log interval's record from the session's pooled reports."""
  pooled = async_workers.pool_reports([r for step in window for r in step['reports']])
  elapsed_s = max(elapsed_s, 1e-9)
  record = {k: v for k, v in pooled.items() if k not in _COUNTS}
  record.update(
      env_fps=pooled['env_steps'] * frames_per_step / elapsed_s,
      updates_per_s=pooled['updates'] / elapsed_s,
      worker_inference_s=pooled['inference_s'], worker_env_s=pooled['env_s'],
      worker_gradient_s=pooled['gradient_s'], worker_apply_s=pooled['apply_s'],
      worker_cpu_utilisation=pooled['cpu_s'] / elapsed_s)
  if pooled['episode_returns']:
    record['episode_return'] = float(np.mean(pooled['episode_returns']))
    record['episode_length'] = float(np.mean(pooled['episode_lengths']))
    record['episodes'] = len(pooled['episode_returns'])
  return record


_COUNTS = frozenset({'updates', 'env_steps', 'inference_s', 'env_s', 'gradient_s',
                     'apply_s', 'cpu_s', 'episode_returns', 'episode_lengths'})


def make_run(config: ml_collections.ConfigDict,
             make_agent: Callable | None = None) -> train_lib.Run:
  runtime, state, frames_per_step = build(config, make_agent)

  def finish(state):
    """The final policy over ``num_eval_episodes`` fresh episodes (as it is evaluated:
    greedy for the Q-learners, sampled for the actor-critic), and, where acting greedily
    differs from that (the actor-critic), its greedy policy over the same number:
    ``eval_greedy_*``."""
    spec, _ = host_play.probe_env(config)
    record = {}
    agents_by_prefix = (('eval', host_play.evaluation_agent(config, spec, make_agent)),
                        ('eval_greedy',
                         host_play.greedy_evaluation_agent(config, spec, make_agent)))
    for prefix, agent in agents_by_prefix:
      if agent is None:
        continue
      evaluation = host_play.play_host(agent, state.params, config,
                                       num_episodes=config.num_eval_episodes,
                                       seed=config.seed + 1)
      returns = evaluation.episode_returns
      record.update({f'{prefix}_return': float(np.nanmean(returns)),
                     f'{prefix}_return_std': float(np.nanstd(returns)),
                     f'{prefix}_completed': float(np.mean(~np.isnan(returns)))})
    return record

  @contextlib.contextmanager
  def session(state):
    with runtime.start(state) as running:
      yield running.step

  return train_lib.Run(
      state=state,
      place=lambda s: s,
      update_of=lambda s: int(s.update),
      session=session,
      summarise=lambda window, elapsed_s: summarise(window, elapsed_s, frames_per_step),
      num_updates=total_updates(config, frames_per_step),
      updates_per_step=None,
      frames_per_update=frames_per_update(config, frames_per_step),
      unit='frames',
      progress_keys=('episode_return', 'env_fps', 'updates_per_s'),
      plot_keys=('episode_return', 'loss', 'entropy', 'q_value', 'env_fps', 'updates_per_s',
                 'eval_return'),
      finish=finish)


def train(config, workdir, *, make_agent: Callable | None = None, **kwargs):
  """Trains (or resumes) an asynchronous experiment in ``workdir`` (``train_lib.run``)."""
  return train_lib.run(config, workdir, functools.partial(make_run, config, make_agent),
                       **kwargs)
