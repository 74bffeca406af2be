"""An actor-learner (IMPALA) run from its config: host envs, agent, learner, diagnostics.

Besides the loss metrics it logs what tells acting and learning apart as the bottleneck:
environment frames/s, learner updates/s, the share of time the learner waited for data
and the actors waited for room in the queue, the queue's fill, and the policy lag.
"""

import contextlib
import functools
import math
from typing import Callable

import jax
import ml_collections
import numpy as np

from core import learner as learner_lib
from core import optim
from core import parallel
from core.runtime import actor_learner
from envs import host_registry
from experiments import host_play
from experiments import agents
from experiments import train as train_lib


def frames_per_update(config, frames_per_step: int) -> int:
  """Environment frames of fresh experience each update consumes (replayed ones excluded)."""
  rt = config.runtime
  fresh_per_batch = rt.batch_size // (rt.replay_ratio + 1)
  return fresh_per_batch * rt.unroll_length * frames_per_step


def total_updates(config, frames_per_step: int) -> int:
  return math.ceil(config.total_frames / frames_per_update(config, frames_per_step))


def build(config: ml_collections.ConfigDict, make_agent: Callable | None = None):
  """The ``ActorLearner`` described by ``config`` and its frames per agent step.

  ``make_agent(env_spec, agent_config) -> Agent`` defaults to the registered family of
  ``config.agent.name``.
  """
  make_agent = make_agent or agents.make_agent
  spec, frames_per_step = host_play.probe_env(config)
  agent = make_agent(spec, config.agent)
  optimizer = optim.make_optimizer(config.optimizer, total_updates(config, frames_per_step))
  rt = config.runtime

  env_kwargs = config.env.kwargs.to_dict()
  if rt.env_threads:  # only vector envs with a thread pool of their own take it
    env_kwargs['num_threads'] = rt.env_threads

  def make_env(actor_id):
    del actor_id  # every actor gets the same kind of environment; seeds differ
    return host_registry.make_host(config.env.name, num_envs=rt.envs_per_actor, **env_kwargs)

  learner_devices = rt.learner_devices or jax.device_count()
  mesh = parallel.make_mesh(learner_devices) if learner_devices > 1 else None
  runtime = actor_learner.ActorLearner(
      agent, make_env, spec, learner_lib.learner_for(agent, optimizer),
      num_actors=rt.num_actors,
      envs_per_actor=rt.envs_per_actor, batch_size=rt.batch_size,
      unroll_length=rt.unroll_length, queue_capacity=rt.queue_capacity,
      replay_ratio=rt.replay_ratio, replay_capacity=rt.replay_capacity, seed=config.seed,
      learner_mesh=mesh)
  return runtime, frames_per_step


def summarise(window, actor_stats, learner_wait_s, elapsed_s, frames_per_step, queue_fill):
  """One log interval's record: mean loss metrics, throughput and bottleneck figures."""
  window = jax.device_get(window)
  summary = {k: float(np.mean([m[k] for m in window])) for k in window[0]
             if k != 'policy_lag_max'}
  summary['policy_lag_max'] = float(max(m['policy_lag_max'] for m in window))
  elapsed_s = max(elapsed_s, 1e-9)
  summary.update(
      env_fps=actor_stats['env_steps'] * frames_per_step / elapsed_s,
      learner_steps_per_s=len(window) / elapsed_s,
      learner_wait_fraction=learner_wait_s / elapsed_s,
      actor_queue_wait_s=actor_stats['queue_wait_s'],
      actor_inference_s=actor_stats['inference_s'],
      actor_env_s=actor_stats['env_s'],
      queue_fill=queue_fill)
  if actor_stats['episode_returns']:
    summary['episode_return'] = float(np.mean(actor_stats['episode_returns']))
    summary['episode_length'] = float(np.mean(actor_stats['episode_lengths']))
    summary['episodes'] = len(actor_stats['episode_returns'])
  return summary


def make_run(config: ml_collections.ConfigDict,
             make_agent: Callable | None = None) -> train_lib.Run:
  runtime, frames_per_step = build(config, make_agent)
  live = {}  # the running session and the learner's wait at the last record

  @contextlib.contextmanager
  def session(state):
    with runtime.start(state) as running:
      live.update(session=running, last_wait=0.0)
      yield running.step

  def summarise_interval(window, elapsed_s):
    running = live['session']
    wait = running.learner_wait_s - live['last_wait']
    live['last_wait'] = running.learner_wait_s
    return summarise(window, running.drain_actor_stats(), wait, elapsed_s, frames_per_step,
                     running.queue_fill())

  return train_lib.Run(
      state=runtime.init(jax.random.PRNGKey(config.seed)),
      place=runtime.place_state,
      update_of=lambda state: int(state.update),
      session=session,
      summarise=summarise_interval,
      num_updates=total_updates(config, frames_per_step),
      updates_per_step=1,
      frames_per_update=frames_per_update(config, frames_per_step),
      unit='frames',
      progress_keys=('episode_return', 'env_fps', 'policy_lag'),
      plot_keys=('episode_return', 'loss', 'entropy', 'env_fps', 'policy_lag',
                 'replay_policy_lag', 'learner_wait_fraction', 'queue_fill'),
      finish=lambda state: {})


def train(config, workdir, *, make_agent: Callable | None = None, **kwargs):
  """Trains (or resumes) an actor-learner experiment in ``workdir`` (``train_lib.run``)."""
  return train_lib.run(config, workdir, functools.partial(make_run, config, make_agent),
                       **kwargs)
