"""Runs an experiment from its config: the workdir, restore, the host loop, the result.

``config.runtime.name`` picks the runtime — ``on_device`` (JAX environments, one compiled
step), ``actor_learner`` (host environments, actor threads, one learner) or
``supervised`` (batches from a data source) — whose module here builds a ``Run``: the
pieces that differ between runtimes. Everything else is common: the resolved config and
provenance in the workdir, a checkpoint restored if there is one, metrics that continue
without repeating a step, ``core.runtime.loop`` driving the steps, a checkpoint and a
clean return on Ctrl-C or SIGTERM, the final evaluation and the plots.
"""

import contextlib
import math
import threading
import time
from typing import Any, Callable, ContextManager, NamedTuple, Sequence

import jax
import ml_collections

from core import checkpoint as checkpoint_lib
from core import metrics as metrics_lib
from core import plots
from core.runtime import loop
from experiments import workdir as workdir_lib


class Run(NamedTuple):
  """What one runtime contributes to ``train``.

  Attributes:
    state: the fresh state (also the template a checkpoint is restored into).
    place: puts a restored state where the runtime wants it (its shardings).
    update_of: the number of updates a state holds.
    session: ``state -> context manager`` yielding ``step(state) -> (state, metrics)``
      (the actor-learner's context starts and stops its actors).
    summarise: ``(window, elapsed_s) -> record`` for one log interval.
    num_updates, updates_per_step, frames_per_update: the budget and its units;
      ``updates_per_step`` None where a step advances a varying number of updates
      (the asynchronous workers), which ``update_of`` then reads from the state.
    unit: what ``frames_per_update`` counts (``frames``, ``examples``).
    progress_keys: record fields on the progress line.
    plot_keys: metrics drawn as PNGs at the end (those present).
    finish: ``(state) -> dict`` the final evaluation's metrics (``eval_return`` for RL).
  """
  state: Any
  place: Callable[[Any], Any]
  update_of: Callable[[Any], int]
  session: Callable[[Any], ContextManager[Callable]]
  summarise: Callable[[list, float], dict]
  num_updates: int
  updates_per_step: int | None
  frames_per_update: int
  unit: str
  progress_keys: Sequence[str]
  plot_keys: Sequence[str]
  finish: Callable[[Any], dict]


def steps_for(total: int, per_step: int) -> int:
  """Calls of a step worth ``per_step`` that cover ``total`` (at least one)."""
  return max(1, math.ceil(total / per_step))


def fixed_session(step: Callable) -> Callable[[Any], ContextManager[Callable]]:
  """A session that needs no set-up: it yields ``step``."""
  return lambda state: contextlib.nullcontext(step)


def placer(state_sharding) -> Callable[[Any], Any]:
  """``Run.place`` for a runtime whose state has these shardings (None: as restored)."""
  if state_sharding is None:
    return lambda state: state
  return lambda state: jax.device_put(state, state_sharding)


def run(config: ml_collections.ConfigDict, workdir, build: Callable[[], Run], *,
        print_fn: Callable[[str], None] = print,
        stop: threading.Event | None = None) -> workdir_lib.TrainResult:
  """Trains (or resumes) the experiment in ``workdir`` with the runtime ``build`` makes."""
  start_time = time.monotonic()
  workdir = workdir_lib.prepare(workdir, config, print_fn)
  spec = build()
  checkpointer = checkpoint_lib.Checkpointer(
      workdir / 'checkpoints', save_interval_s=config.checkpoint_interval_s)
  try:
    state = spec.state
    if checkpointer.latest_step() is not None:
      state = spec.place(checkpointer.restore(state))
      print_fn(f'resumed from checkpoint at update {spec.update_of(state)} in {workdir}')
    start_update = spec.update_of(state)
    workdir_lib.write_provenance(workdir, config.seed, start_update)
    with metrics_lib.MetricsWriter(workdir, resume_step=start_update) as writer:
      with spec.session(state) as step:
        result = loop.run(
            state, step=step, summarise=spec.summarise, start_update=start_update,
            num_updates=spec.num_updates, updates_per_step=spec.updates_per_step or 1,
            update_of=spec.update_of if spec.updates_per_step is None else None,
            frames_per_update=spec.frames_per_update, unit=spec.unit,
            checkpointer=checkpointer,
            writer=writer, log_interval_s=config.log_interval_s,
            progress_keys=spec.progress_keys, stop=stop, finish=spec.finish,
            print_fn=print_fn)
  finally:
    checkpointer.close()

  records = metrics_lib.read_metrics(workdir / metrics_lib.METRICS_FILENAME)
  present = set().union(*(r.keys() for r in records)) if records else set()
  plot_paths = plots.plot_metrics(workdir / metrics_lib.METRICS_FILENAME, workdir / 'plots',
                                  keys=[k for k in spec.plot_keys if k in present])
  return workdir_lib.TrainResult(
      updates=result.update,
      frames=result.update * spec.frames_per_update,
      train_return=next((r['episode_return'] for r in reversed(records)
                         if 'episode_return' in r), float('nan')),
      eval_return=float(result.final_metrics.get('eval_return', float('nan'))),
      target_return=config.get('target_return'),
      wall_time_s=time.monotonic() - start_time,
      metrics_path=str(workdir / metrics_lib.METRICS_FILENAME),
      plot_paths=plot_paths,
      interrupted=(getattr(stop, 'signal', None) or 'stop') if result.interrupted else None,
      eval_metrics=result.final_metrics)
