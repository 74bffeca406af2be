"""The host loop of an on-device run: updates, metrics, checkpoints, resume, evaluation.

The training loop logs metrics (JSONL + TensorBoard + console progress), checkpoints the
whole ``TrainState`` every ``checkpoint_interval_s`` seconds, and resumes from the latest
checkpoint when started again on the same workdir.
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
from core.runtime import on_device
from core.runtime import workdir as workdir_lib
from envs import registry as env_registry


def total_updates(config) -> int:
  frames_per_update = config.runtime.num_envs * config.runtime.unroll_length
  calls = math.ceil(config.total_frames / (frames_per_update * config.runtime.updates_per_call))
  return calls * config.runtime.updates_per_call


def build(config: ml_collections.ConfigDict, make_agent: Callable) -> on_device.Runtime:
  """The on-device runtime described by ``config`` (validated beforehand)."""
  env = env_registry.make(config.env.name, **config.env.kwargs.to_dict())
  agent = make_agent(env.spec, config.agent)
  optimizer = optim.make_optimizer(config.optimizer, total_updates(config))
  num_devices = config.runtime.num_devices or jax.device_count()
  mesh = parallel.make_mesh(num_devices) if num_devices > 1 else None
  return on_device.make(
      agent, env, optimizer,
      num_envs=config.runtime.num_envs,
      unroll_length=config.runtime.unroll_length,
      updates_per_call=config.runtime.updates_per_call,
      num_eval_episodes=config.num_eval_episodes,
      mesh=mesh)


def _summarise(window: list[dict]) -> dict:
  """Averages a log interval's per-call metrics; episode statistics are pooled."""
  window = jax.device_get(window)
  episodes = sum(float(m['episodes']) for m in window)
  summary = {k: float(np.mean([m[k] for m in window]))
             for k in window[0] if k not in ('episodes', 'return_sum', 'length_sum')}
  summary['episodes'] = episodes
  if episodes:
    summary['episode_return'] = sum(float(m['return_sum']) for m in window) / episodes
    summary['episode_length'] = sum(float(m['length_sum']) for m in window) / episodes
  return summary


def train(config: ml_collections.ConfigDict, workdir: str, make_agent: Callable,
          *, print_fn: Callable[[str], None] = print) -> workdir_lib.TrainResult:
  """Trains (or resumes) the experiment in ``workdir``; returns its final figures."""
  start_time = time.monotonic()
  workdir = workdir_lib.prepare(workdir, config, print_fn)

  runtime = build(config, make_agent)
  num_updates = total_updates(config)
  checkpointer = checkpoint_lib.Checkpointer(workdir / 'checkpoints')
  state = runtime.init(jax.random.PRNGKey(config.seed))
  latest = checkpointer.latest_step()
  if latest is not None:
    state = checkpointer.restore(state)
    if runtime.state_sharding is not None:
      state = jax.device_put(state, runtime.state_sharding)
    print_fn(f'resumed from checkpoint at update {int(state.update)} in {workdir}')
  start_update = int(state.update)
  workdir_lib.write_provenance(workdir, config.seed, start_update)

  frames_per_update = runtime.frames_per_update
  progress = metrics_lib.Progress(num_updates * frames_per_update, unit='frames',
                                  initial_step=start_update * frames_per_update,
                                  print_fn=print_fn, min_interval_s=0.0)
  last_summary = {}
  with metrics_lib.MetricsWriter(workdir) as writer:
    window, last_log, last_save = [], time.monotonic(), time.monotonic()
    update = start_update
    while update < num_updates:
      state, metrics = runtime.update(state)
      update += runtime.updates_per_call
      window.append(metrics)
      now = time.monotonic()
      if now - last_log >= config.log_interval_s or update >= num_updates:
        summary = _summarise(window)
        summary['frames'] = update * frames_per_update
        writer.write(update, summary)
        progress.update(update * frames_per_update,
                        **{k: summary[k] for k in ('episode_return', 'loss') if k in summary})
        last_summary = summary if 'episode_return' in summary else last_summary
        window, last_log = [], now
      if now - last_save >= config.checkpoint_interval_s or update >= num_updates:
        checkpointer.save(update, state)
        last_save = time.monotonic()

    evaluation = runtime.evaluate(state.params, jax.random.PRNGKey(config.seed + 1))
    eval_returns = np.asarray(evaluation.episode_return)
    eval_return = float(np.mean(eval_returns))
    writer.write(update, {'eval_return': eval_return,
                          'eval_completed': float(np.mean(evaluation.completed)),
                          'frames': update * frames_per_update})
  checkpointer.close()

  plot_paths = plots.plot_metrics(
      workdir / 'metrics.jsonl', workdir / 'plots',
      keys=[k for k in ('episode_return', 'loss', 'entropy', 'grad_norm', 'eval_return')
            if k in last_summary or k == 'eval_return'])
  target = config.get('target_return')
  return workdir_lib.TrainResult(
      updates=update,
      frames=update * frames_per_update,
      train_return=float(last_summary.get('episode_return', float('nan'))),
      eval_return=eval_return,
      target_return=target,
      wall_time_s=time.monotonic() - start_time,
      metrics_path=str(workdir / 'metrics.jsonl'),
      plot_paths=plot_paths)
