"""The host loop every runtime shares: steps, a log window, checkpoints, progress, stop.

A runtime hands the loop a ``step(state) -> (state, metrics)`` that advances
``updates_per_step`` learner updates, and a ``summarise(window, elapsed_s) -> dict`` that
turns the metrics of one log interval into a record. The loop

  * writes a record to ``metrics.jsonl`` / TensorBoard every ``log_interval_s`` and at
    the end, and prints a progress line (steps, frames/s, chosen metrics, time left);
  * offers a checkpoint after every step to the checkpointer, whose save policy
    (orbax's, ``core.checkpoint``) decides whether the interval has passed, and saves
    unconditionally at the end;
  * runs ``finish`` (a final evaluation) after the last step and adds its metrics to the
    last record, so every step has one record;
  * stops early, cleanly, when ``stop`` is set (Ctrl-C or SIGTERM routed to it by the
    launcher): the step in flight finishes, the last record and a checkpoint of exactly
    that state are written, and the result says it was interrupted.
"""

import threading
import time
from typing import Any, Callable, NamedTuple, Sequence

from core import checkpoint as checkpoint_lib
from core import metrics as metrics_lib


class LoopResult(NamedTuple):
  state: Any
  update: int          # updates done in total (across resumes)
  interrupted: bool    # stopped by ``stop`` before ``num_updates``
  last_record: dict    # the last record written (empty if none)
  final_metrics: dict  # what ``finish`` returned (empty if interrupted or none)


def run(state: Any,
        *,
        step: Callable[[Any], tuple[Any, dict]],
        summarise: Callable[[list, float], dict],
        start_update: int,
        num_updates: int,
        updates_per_step: int,
        frames_per_update: int,
        unit: str = 'frames',
        checkpointer: checkpoint_lib.Checkpointer,
        writer: metrics_lib.MetricsWriter,
        log_interval_s: float,
        progress_keys: Sequence[str] = (),
        stop: threading.Event | None = None,
        update_of: Callable[[Any], int] | None = None,
        finish: Callable[[Any], dict] | None = None,
        print_fn: Callable[[str], None] = print) -> LoopResult:
  """Runs ``step`` from ``start_update`` until ``num_updates`` or ``stop``.

  Args:
    state: the state to continue from.
    step: advances ``updates_per_step`` updates; may donate its argument.
    summarise: ``(metrics of the interval's steps, seconds since the last record)`` ->
      the record to write (``unit`` is added here).
    start_update: the updates ``state`` already holds.
    num_updates: where the run ends.
    updates_per_step: updates one call of ``step`` performs.
    frames_per_update: environment frames (or examples) per update, for the records'
      ``unit`` field and the progress line.
    unit: what ``frames_per_update`` counts: ``frames`` or ``examples``.
    checkpointer: offered the state after every step (``maybe_save``) and made to
      save at the end.
    writer: where records go.
    log_interval_s: seconds between records.
    progress_keys: record fields shown on the progress line when present.
    stop: when set, the loop ends after the step in flight.
    update_of: ``state -> updates it holds``, for runtimes whose steps advance a varying
      number of updates (the asynchronous workers); ``updates_per_step`` counts
      otherwise.
    finish: ``state -> metrics`` run once the budget is spent (not on a stop); its
      metrics join the last record and ``LoopResult.final_metrics``.
    print_fn: where progress lines go.
  """
  progress = metrics_lib.Progress(
      max(num_updates * frames_per_update, 1), unit=unit,
      initial_step=start_update * frames_per_update, print_fn=print_fn, min_interval_s=0.0)
  update, window, last_record = start_update, [], {}
  last_log = time.monotonic()

  def log(now, extra=None):
    nonlocal window, last_log, last_record
    record = dict(summarise(window, now - last_log) if window else {}, **(extra or {}),
                  **{unit: update * frames_per_update})
    writer.write(update, record)
    progress.update(update * frames_per_update,
                    **{k: record[k] for k in progress_keys if k in record})
    window, last_log, last_record = [], now, record

  stopped = lambda: stop is not None and stop.is_set()
  while update < num_updates and not stopped():
    state, metrics = step(state)
    update = update + updates_per_step if update_of is None else update_of(state)
    window.append(metrics)
    now = time.monotonic()
    if update >= num_updates:
      break
    if now - last_log >= log_interval_s:
      log(now)
    checkpointer.maybe_save(update, state)
  interrupted = update < num_updates
  final_metrics = {} if interrupted or finish is None else dict(finish(state))
  if window or (final_metrics and update > start_update):
    log(time.monotonic(), final_metrics)
  checkpointer.save(update, state)
  writer.flush()
  return LoopResult(state=state, update=update, interrupted=interrupted,
                    last_record=last_record, final_metrics=final_metrics)
