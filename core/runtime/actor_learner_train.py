"""The host loop of an actor-learner (IMPALA) run: learner steps, diagnostics, checkpoints.

Besides the loss metrics it logs what tells acting and learning apart as the bottleneck:
environment frames/s, learner updates/s, the share of time the learner waited for data
and the actors waited for room in the queue, the queue's fill, and the policy lag.
"""

import math
import time
from typing import Callable

import jax
import ml_collections
import numpy as np

from core import checkpoint as checkpoint_lib
from core import metrics as metrics_lib
from core import optim
from core import parallel
from core import plots
from core.runtime import actor_learner
from core.runtime import workdir as workdir_lib
from envs import host_registry

# Returns of this many recent full episodes make the reported training return.
RECENT_EPISODES = 20


def _probe_env(config):
  env = host_registry.make_host(config.env.name, num_envs=1, **config.env.kwargs.to_dict())
  try:
    return env.spec, getattr(env, 'frames_per_step', 1)
  finally:
    env.close()


def frames_per_update(config, frames_per_step: int) -> int:
  """Environment frames of fresh experience each update consumes (replayed ones excluded)."""
  rt = config.runtime
  fresh_per_batch = rt.batch_size // (rt.replay_ratio + 1)
  return fresh_per_batch * rt.unroll_length * frames_per_step


def total_updates(config, frames_per_step: int) -> int:
  return math.ceil(config.total_frames / frames_per_update(config, frames_per_step))


def build(config: ml_collections.ConfigDict, make_agent: Callable):
  """The ``ActorLearner`` described by ``config`` and its frames per agent step."""
  spec, frames_per_step = _probe_env(config)
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
      agent, make_env, spec, optimizer, num_actors=rt.num_actors,
      envs_per_actor=rt.envs_per_actor, batch_size=rt.batch_size,
      unroll_length=rt.unroll_length, queue_capacity=rt.queue_capacity,
      replay_ratio=rt.replay_ratio, replay_capacity=rt.replay_capacity, seed=config.seed,
      learner_mesh=mesh)
  return runtime, frames_per_step


def _summarise(window, actor_stats, learner_wait_s, elapsed_s, frames_per_step, queue_fill):
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


def train(config: ml_collections.ConfigDict, workdir: str, make_agent: Callable,
          *, print_fn: Callable[[str], None] = print) -> workdir_lib.TrainResult:
  """Trains (or resumes) an actor-learner experiment in ``workdir``."""
  start_time = time.monotonic()
  workdir = workdir_lib.prepare(workdir, config, print_fn)
  runtime, frames_per_step = build(config, make_agent)
  num_updates = total_updates(config, frames_per_step)
  per_update = frames_per_update(config, frames_per_step)

  checkpointer = checkpoint_lib.Checkpointer(workdir / 'checkpoints')
  state = runtime.init(jax.random.PRNGKey(config.seed))
  if checkpointer.latest_step() is not None:
    state = runtime.place_state(checkpointer.restore(state))
    print_fn(f'resumed from checkpoint at update {int(state.update)} in {workdir}')
  start_update = int(state.update)
  workdir_lib.write_provenance(workdir, config.seed, start_update)

  progress = metrics_lib.Progress(num_updates * per_update, unit='frames',
                                  initial_step=start_update * per_update,
                                  print_fn=print_fn, min_interval_s=0.0)
  recent_returns: list[float] = []
  update = start_update
  with metrics_lib.MetricsWriter(workdir) as writer, runtime.start(state) as session:
    window, last_log, last_save = [], time.monotonic(), time.monotonic()
    last_wait = 0.0
    while update < num_updates:
      state, metrics = session.step(state)
      update += 1
      window.append(metrics)
      now = time.monotonic()
      if now - last_log >= config.log_interval_s or update >= num_updates:
        stats = session.drain_actor_stats()
        summary = _summarise(window, stats, session.learner_wait_s - last_wait,
                             now - last_log, frames_per_step, session.queue_fill())
        last_wait = session.learner_wait_s
        recent_returns = (recent_returns + stats['episode_returns'])[-RECENT_EPISODES:]
        summary['frames'] = update * per_update
        writer.write(update, summary)
        shown = {k: summary[k] for k in ('episode_return', 'env_fps', 'policy_lag')
                 if k in summary}
        progress.update(update * per_update, **shown)
        window, last_log = [], now
      if now - last_save >= config.checkpoint_interval_s or update >= num_updates:
        checkpointer.save(update, state)
        last_save = time.monotonic()
  checkpointer.close()

  records = metrics_lib.read_metrics(workdir / 'metrics.jsonl')
  present = set().union(*(r.keys() for r in records)) if records else set()
  keys = [k for k in ('episode_return', 'loss', 'entropy', 'env_fps', 'policy_lag',
                      'replay_policy_lag', 'learner_wait_fraction', 'queue_fill')
          if k in present]
  plot_paths = plots.plot_metrics(workdir / 'metrics.jsonl', workdir / 'plots', keys=keys)
  return workdir_lib.TrainResult(
      updates=update,
      frames=update * per_update,
      train_return=float(np.mean(recent_returns)) if recent_returns else float('nan'),
      eval_return=float('nan'),
      target_return=config.get('target_return'),
      wall_time_s=time.monotonic() - start_time,
      metrics_path=str(workdir / 'metrics.jsonl'),
      plot_paths=plot_paths)
