"""A curriculum run tested on sequences longer than it trained on (the SAM paper's test).

A run of ``<model>_<task>,curriculum`` ends at some level h: its episodes were drawn with
lengths up to h (vectors to copy, items to recall from). ``evaluate_longer`` evaluates
its latest checkpoint on the plain task with every episode exactly h long, and exactly
``factor``·h long (the paper: 10×), with ``supervised.evaluate_on``. The memory must have
rows for the longer episodes (a copy of L vectors writes L words).
"""

import os
import pathlib
from typing import Any, Callable, NamedTuple

from core import metrics as metrics_lib
from experiments import evaluation
from experiments import supervised

class _LongerTest(NamedTuple):
  task: str                          # the plain task
  fixed: Callable[[int], dict]       # length -> the kwargs that fix every episode's length
  words: Callable[[int, Any], int]   # (length, curriculum kwargs) -> words it presents


# The curriculum task -> its longer test.
_LONGER_TESTS = {
    'copy_curriculum': _LongerTest(
        'copy', lambda n: {'min_length': n, 'max_length': n}, lambda n, kwargs: n),
    'associative_recall_curriculum': _LongerTest(
        'associative_recall', lambda n: {'min_items': n, 'max_items': n},
        lambda n, kwargs: n * (kwargs['item_length'] + 1)),
}
# The curriculum's kwargs the plain task shares.
_SHARED = ('batch_size', 'bits', 'item_length')


def rows_needed(data_name: str, kwargs, length: int) -> int:
  """The words a ``data_name`` curriculum episode of ``length`` presents (a copy's vectors;
  a recall's items times their vectors and delimiter): a memory with fewer rows cannot
  keep a word per presented step, so the longer test would test the memory's size."""
  if not supported(data_name):
    raise ValueError(f'data {data_name!r} has no longer-sequence test; expected one of '
                     f'{sorted(_LONGER_TESTS)}')
  return _LONGER_TESTS[data_name].words(length, kwargs)


def supported(data_name: str) -> bool:
  return data_name in _LONGER_TESTS


def final_level(workdir: str | os.PathLike) -> int:
  """The curriculum level h of a run's newest log record."""
  path = pathlib.Path(workdir) / metrics_lib.METRICS_FILENAME
  levels = [r['data_level'] for r in metrics_lib.read_metrics(path) if 'data_level' in r]
  if not levels:
    raise ValueError(f'{path}: no data_level in the log; not a curriculum run')
  return int(levels[-1])


def evaluate_longer(workdir: str | os.PathLike, *, factor: int = 10,
                    num_batches: int = 4) -> dict:
  """The run's metrics on episodes of exactly h and of exactly factor·h (see the module
  docstring), with h, the lengths and the memory's rows."""
  config = evaluation.load_config(workdir)
  if not supported(config.data.name):
    raise ValueError(f'{workdir}: data {config.data.name!r} has no longer-sequence test; '
                     f'expected one of {sorted(_LONGER_TESTS)}')
  if not isinstance(factor, int) or factor < 1:
    raise ValueError(f'factor must be a positive integer, got {factor!r}')
  task, fixed, _ = _LONGER_TESTS[config.data.name]
  shared = {k: v for k, v in config.data.kwargs.to_dict().items() if k in _SHARED}
  level = final_level(workdir)
  out = {'level': level, 'max_level': int(config.data.kwargs.max_level), 'factor': factor,
         'num_rows': int(config.model.memory.num_rows), 'task': task,
         'num_batches': num_batches}
  for label, length in (('at_level', level), ('longer', factor * level)):
    metrics = supervised.evaluate_on(workdir, data_name=task,
                                     data_kwargs=dict(shared, **fixed(length)),
                                     num_batches=num_batches)
    out[label] = dict(metrics, length=length)
  return out
