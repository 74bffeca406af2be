"""PNG plots of a run's ``metrics.jsonl``: one figure per metric.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so plotting
needs no display and leaves matplotlib's global backend alone.
"""

from collections.abc import Sequence
import math
import numbers
import os
import re

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

from core import metrics as metrics_lib

# Record fields that are bookkeeping, not metrics.
_NOT_METRICS = ('step', 'time')


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
  """Debiased exponential moving average, as TensorBoard's smoothing slider.

  Args:
    values: ``[N]`` raw values.
    weight: in ``[0, 1)``; 0 returns the values unchanged.

  Returns:
    ``[N]`` smoothed values.
  """
  if not 0 <= weight < 1:
    raise ValueError(f'smoothing weight must be in [0, 1), got {weight}')
  smoothed = np.empty(len(values))
  average = 0.0
  for i, value in enumerate(values):
    average = weight * average + (1 - weight) * value
    # Dividing by 1 - weight**(i+1) removes the pull towards the zero start.
    smoothed[i] = average / (1 - weight**(i + 1))
  return smoothed


def _series(records, x: str, key: str) -> tuple[np.ndarray, np.ndarray]:
  """The finite ``(x, y)`` points of one metric, sorted by x.

  A resumed run logs again the steps after its last checkpoint; the later record of
  an x wins, as it belongs to the run that continued.
  """
  points = {}
  for record in records:
    x_value, y_value = record.get(x), record.get(key)
    if _is_number(x_value) and _is_number(y_value) and math.isfinite(y_value):
      points[x_value] = y_value
  xs = np.array(sorted(points), dtype=float)
  return xs, np.array([points[x_value] for x_value in sorted(points)], dtype=float)


def _file_name(key: str) -> str:
  return re.sub(r'[^A-Za-z0-9_.-]+', '_', key).strip('_') or 'metric'


def plot_metrics(
    metrics_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    x: str = 'step',
    keys: Sequence[str] | None = None,
    smoothing: float = 0.6,
) -> list[str]:
  """Writes one PNG per metric: raw points with a smoothed line over them.

  Args:
    metrics_path: a ``metrics.jsonl`` written by ``core.metrics.MetricsWriter``.
    out_dir: where the PNGs go (created if missing), named after the metrics.
    x: the record field for the x-axis (``step``, ``time`` or any metric).
    keys: the metrics to plot; every numeric metric if None.
    smoothing: exponential-moving-average weight of the line, in ``[0, 1)``.

  Returns:
    The paths written, in the order of ``keys`` (or of first appearance).

  Raises:
    ValueError: if the file has no records, ``x`` or a requested key is in no
      record, or a metric has no finite values.
  """
  metrics_path = os.fspath(metrics_path)
  records = metrics_lib.read_metrics(metrics_path)
  if not records:
    raise ValueError(f'{metrics_path} has no metric records')
  available = list(dict.fromkeys(key for record in records for key in record))
  if x not in available:
    raise ValueError(
        f'x-axis field {x!r} is in no record of {metrics_path}; '
        f'fields: {", ".join(available)}')
  if keys is None:
    keys = [
        key for key in available
        if key not in _NOT_METRICS and key != x
        and any(_is_number(record.get(key)) for record in records)
    ]
    if not keys:
      raise ValueError(f'{metrics_path} has no numeric metrics to plot')
  else:
    missing = [key for key in keys if key not in available]
    if missing:
      raise ValueError(
          f'{", ".join(map(repr, missing))} not in {metrics_path}; '
          f'fields: {", ".join(available)}')

  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for key in keys:
    xs, ys = _series(records, x, key)
    if not len(xs):
      raise ValueError(f'metric {key!r} has no finite values in {metrics_path}')
    figure = Figure(figsize=(6.4, 4.0), layout='constrained')
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(xs, ys, '.', markersize=3, alpha=0.35, color='C0', label='raw')
    axes.plot(xs, smooth(ys, smoothing), '-', linewidth=1.8, color='C0',
              label=f'smoothed ({smoothing:g})')
    axes.set_title(key)
    axes.set_xlabel(x)
    axes.set_ylabel(key)
    axes.grid(alpha=0.3)
    axes.legend(loc='best', fontsize='small')
    path = os.path.join(os.fspath(out_dir), f'{_file_name(key)}.png')
    figure.savefig(path, dpi=100)
    paths.append(path)
  return paths
