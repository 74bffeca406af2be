"""Experiment metrics: a JSONL log (always), TensorBoard scalars, console progress.

``metrics.jsonl`` is the record of a run: one JSON object per line,
``{"step": ..., "time": ..., <metric>: <number>, ...}``. It is appended to, so a
resumed run continues the same file, and flushed after every line, so a killed run
loses nothing it wrote. TensorBoard events are a convenience view of the same numbers.

Only one process of a multi-process job should write metrics; choosing which is the
caller's business.
"""

from collections.abc import Callable, Mapping
import gzip
import json
import math
import numbers
import os
import time
from typing import Any

import numpy as np

METRICS_FILENAME = 'metrics.jsonl'
TENSORBOARD_DIRNAME = 'tensorboard'
_RESERVED_KEYS = ('step', 'time')


def _to_number(key: str, value: Any) -> int | float | None:
  """Converts a scalar (Python, numpy or jax) to a JSON-safe number.

  Integers stay integers so counters are exact; non-finite floats become ``None``
  (JSON ``null``) because JSON has no NaN or infinity.
  """
  if isinstance(value, (bool, np.bool_)):
    return int(value)
  if isinstance(value, numbers.Integral):
    return int(value)
  if isinstance(value, numbers.Real):
    value = float(value)
    return value if math.isfinite(value) else None
  # numpy and jax arrays: only 0-d ones are scalars; a [1]-shaped value is more
  # often a reduction over the wrong axes than a deliberate scalar.
  try:
    array = np.asarray(value)
  except Exception as e:  # pylint: disable=broad-except
    raise TypeError(f'metric {key!r}: expected a number, got {type(value)}') from e
  if array.ndim != 0 or array.dtype.kind not in 'biuf':
    raise TypeError(
        f'metric {key!r}: expected a numeric scalar, got {type(value).__name__} '
        f'with shape {array.shape} and dtype {array.dtype}')
  return _to_number(key, array.item())


def _drop_partial_last_line(path: str) -> None:
  """Cuts a line left half-written by a killed run, so appends start cleanly."""
  with open(path, 'rb+') as f:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    if size == 0:
      return
    f.seek(size - 1)
    if f.read(1) == b'\n':
      return
    # Scan back in blocks for the last complete line.
    end = size
    while end > 0:
      start = max(0, end - 4096)
      f.seek(start)
      newline = f.read(end - start).rfind(b'\n')
      if newline >= 0:
        f.truncate(start + newline + 1)
        return
      end = start
    f.truncate(0)


def _drop_records_after(path: str, step: int) -> int:
  """Removes the records of ``path`` whose step is after ``step``; returns how many.

  A run killed after logging past its last checkpoint resumes from that checkpoint and
  logs those steps again; without this the file would hold them twice, out of order.
  """
  with open(path, encoding='utf-8') as f:
    lines = f.readlines()
  kept = [line for line in lines if json.loads(line)['step'] <= step]
  if len(kept) != len(lines):
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
      f.writelines(kept)
    os.replace(tmp, path)
  return len(lines) - len(kept)


class MetricsWriter:
  """Appends metrics to ``workdir/metrics.jsonl`` and, optionally, to TensorBoard.

  Usage::

    with MetricsWriter(workdir) as writer:
      writer.write(step, {'return': 12.5, 'loss': loss})
  """

  def __init__(self, workdir: str | os.PathLike, *, tensorboard: bool = True,
               resume_step: int | None = None):
    """Opens (or creates) the metrics log of a run.

    Args:
      workdir: the run's directory; created if missing.
      tensorboard: also write TensorBoard scalars to ``workdir/tensorboard``.
      resume_step: the step a resumed run continues from: records after it (written
        by the run before it was killed, past its last checkpoint) are dropped, so the
        log holds each step once and in order.
    """
    workdir = os.fspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, METRICS_FILENAME)
    if os.path.exists(self.path):
      _drop_partial_last_line(self.path)
      if resume_step is not None:
        _drop_records_after(self.path, int(resume_step))
    self._file = open(self.path, 'a', encoding='utf-8')
    self._tensorboard = None
    if tensorboard:
      # Imported here so that readers of metrics (plots, notebooks) do not pay for it.
      import tensorboardX  # pylint: disable=g-import-not-at-top
      self._tensorboard = tensorboardX.SummaryWriter(
          os.path.join(workdir, TENSORBOARD_DIRNAME))

  def write(self, step: int, metrics: Mapping[str, Any]) -> None:
    """Records the metrics of one step.

    Args:
      step: the x-axis value (environment frames, learner updates, ...).
      metrics: metric name to numeric scalar (Python, numpy or 0-d jax arrays).
        Non-finite values are stored as JSON ``null``.

    Raises:
      ValueError: if a metric is named ``step`` or ``time``, or the writer is closed.
      TypeError: if a value is not a numeric scalar.
    """
    if self._file.closed:
      raise ValueError(f'MetricsWriter for {self.path} is closed')
    step = int(step)
    record = {'step': step, 'time': time.time()}
    for key, value in metrics.items():
      if key in _RESERVED_KEYS:
        raise ValueError(f'metric name {key!r} is reserved for the record itself')
      record[key] = _to_number(key, value)
    # One write call per line keeps a kill from interleaving partial records.
    self._file.write(json.dumps(record, allow_nan=False) + '\n')
    self._file.flush()
    if self._tensorboard is not None:
      for key in metrics:
        value = record[key]
        self._tensorboard.add_scalar(
            key, math.nan if value is None else value, step, walltime=record['time'])

  def flush(self) -> None:
    """Pushes buffered TensorBoard events to disk (the JSONL log is never buffered)."""
    self._file.flush()
    if self._tensorboard is not None:
      self._tensorboard.flush()

  def close(self) -> None:
    """Flushes and closes both outputs; safe to call twice."""
    if not self._file.closed:
      self._file.close()
    if self._tensorboard is not None:
      self._tensorboard.close()
      self._tensorboard = None

  def __enter__(self) -> 'MetricsWriter':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
  """Reads a ``metrics.jsonl`` file, or a gzipped one (``metrics.jsonl.gz``, as results
  commit them).

  A last line that does not parse is the remains of a killed run and is skipped.
  JSON ``null`` values (non-finite when written) come back as ``nan``.

  Args:
    path: the JSONL file; read through gzip when its name ends in ``.gz``.

  Returns:
    The records in file order.

  Raises:
    ValueError: if a line other than the last one is not valid JSON.
  """
  path = os.fspath(path)
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rt', encoding='utf-8') as f:
    lines = f.read().split('\n')
  while lines and not lines[-1].strip():
    lines.pop()
  records = []
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
    except json.JSONDecodeError as e:
      if number == len(lines):
        break
      raise ValueError(f'{path}:{number} is not a JSON record: {e}') from e
    records.append({k: math.nan if v is None else v for k, v in record.items()})
  return records


def _format_value(value: Any) -> str:
  """Formats a metric compactly: ``123.4``, ``0.01234``, ``12,346``, ``1.2e-05``."""
  if isinstance(value, (bool, np.bool_)):
    return str(bool(value))
  if isinstance(value, numbers.Integral):
    return f'{int(value):,}'
  try:
    value = float(value)
  except (TypeError, ValueError):
    return str(value)
  magnitude = abs(value)
  if not math.isfinite(value) or value == 0:
    return f'{value:g}'
  if magnitude >= 1e4:
    return f'{value:,.0f}'
  if magnitude >= 1e-3:
    return f'{value:.4g}'
  return f'{value:.2e}'


def _format_rate(rate: float) -> str:
  if rate >= 100:
    return f'{rate:,.0f}'
  return f'{rate:.3g}'


def _format_duration(seconds: float) -> str:
  """``h:mm:ss``, hours unbounded."""
  seconds = max(0, int(round(seconds)))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f'{hours}:{minutes:02d}:{seconds:02d}'


class Progress:
  """Prints a progress line for a long job at most every ``min_interval_s``.

  A line (wrapped here) looks like::

    [  12.3%] frames 123,456/1,000,000 | 45,678 frames/s | return 123.4
        | elapsed 0:00:12 | left 0:01:30

  The rate is measured since the previous printed line; the time left uses the mean
  rate since this process started. Both count only the steps done in this process,
  so a resumed run (``initial_step`` > 0) reports its own speed, not an inflated one.
  """

  def __init__(
      self,
      total_steps: int,
      *,
      unit: str = 'frames',
      initial_step: int = 0,
      print_fn: Callable[[str], Any] = print,
      min_interval_s: float = 10.0,
      clock: Callable[[], float] = time.monotonic,
  ):
    """Starts the clock.

    Args:
      total_steps: the step at which the job ends.
      unit: what a step counts, for the line (``frames``, ``updates``).
      initial_step: the step this process starts from (the restored step on resume).
      print_fn: where lines go.
      min_interval_s: the least time between two printed lines.
      clock: seconds from an arbitrary origin; injectable for tests.
    """
    if total_steps <= 0:
      raise ValueError(f'total_steps must be positive, got {total_steps}')
    self._total = int(total_steps)
    self._unit = unit
    self._print = print_fn
    self._min_interval_s = min_interval_s
    self._clock = clock
    self._start_time = self._last_time = clock()
    self._start_step = self._last_step = self._step = int(initial_step)

  def update(self, step: int, **metrics: Any) -> bool:
    """Notes that ``step`` was reached; prints a line if it is time to.

    Args:
      step: the current step (same units as ``total_steps``).
      **metrics: values to show on the line (e.g. ``return=123.4``).

    Returns:
      Whether a line was printed.
    """
    self._step = int(step)
    now = self._clock()
    finished = self._step >= self._total
    if now - self._last_time < self._min_interval_s and not finished:
      return False
    interval = now - self._last_time
    rate = (self._step - self._last_step) / interval if interval > 0 else math.nan
    elapsed = now - self._start_time
    mean_rate = (self._step - self._start_step) / elapsed if elapsed > 0 else 0.0
    if finished:
      left = '0:00:00'
    elif mean_rate > 0:
      left = _format_duration((self._total - self._step) / mean_rate)
    else:
      left = '?'
    percent = 100.0 * self._step / self._total
    parts = [
        f'[{percent:6.1f}%] {self._unit} {self._step:,}/{self._total:,}',
        f'{_format_rate(rate)} {self._unit}/s',
        *(f'{name} {_format_value(value)}' for name, value in metrics.items()),
        f'elapsed {_format_duration(elapsed)}',
        f'left {left}',
    ]
    self._print(' | '.join(parts))
    self._last_time, self._last_step = now, self._step
    return True

  def done(self, **metrics: Any) -> None:
    """Prints a closing line with the mean rate of this process and final metrics."""
    elapsed = self._clock() - self._start_time
    mean_rate = (self._step - self._start_step) / elapsed if elapsed > 0 else math.nan
    parts = [
        f'[{"done":>7}] {self._unit} {self._step:,}/{self._total:,}',
        f'{_format_rate(mean_rate)} {self._unit}/s mean',
        *(f'{name} {_format_value(value)}' for name, value in metrics.items()),
        f'elapsed {_format_duration(elapsed)}',
    ]
    self._print(' | '.join(parts))
