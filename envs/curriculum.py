"""The SAM paper's exponential curriculum (Rae et al. 2016) as a data source.

The source's state holds the level ``h``. Each row's episode length (vectors to copy,
items to recall from, vectors to sort) is drawn from ``U{min_length, max(h,
min_length)}``, with ``min_length`` the task's least (1; 2 for associative recall).
After every learner step ``update`` folds a metric of that step (by default
``bit_errors_per_sequence``, an error per sequence) into a smoothed estimate; once that
estimate is below ``threshold``, ``h`` doubles, capped at ``max_level``, and the estimate
starts afresh at the new level.

The smoothed estimate is a bias-corrected exponential moving average (as Adam's moments):
after ``n`` updates at a level it is ``sum_i (1-d) d^(n-i) x_i / (1 - d^n)`` with ``d =
decay``, so the first update's estimate is that update's error, not a pull towards 0,
and a fresh level is never judged on the easier level's errors. At least
``min_updates`` updates at a level are required before it may advance, so that one
lucky batch does not double ``h``. At ``max_level`` the average keeps running (for
logging ``state.error``) and never resets. The defaults (threshold 1 wrong bit per sequence, decay 0.9, 10 updates,
``max_level`` 64) are this module's choices, not values from the paper.

Everything is jittable with static shapes: ``max_level`` fixes the task's padded length
``T`` and only the drawn lengths depend on ``h``, so a batch costs as much at ``h = 1``
as at ``max_level`` unless the model skips the steps after the last scored one (the
sequence model's ``skip_chunk``, which the ``curriculum`` config variant sets). The state is a pytree of arrays, so a checkpoint resumes the level.

The tasks' curriculum versions (``make_copy``, ``make_associative_recall``,
``make_priority_sort``) are registered as ``'<task>_curriculum'`` in
``envs.task_registry``.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from core import model as model_lib
from envs import associative_recall
from envs import copy_task
from envs import priority_sort

# (key, lengths [B] int32) -> SequenceBatch, with the task's static arguments bound.
SampleWithLengths = Callable[[jax.Array, jax.Array], copy_task.SequenceBatch]


class CurriculumState(NamedTuple):
  level: jax.Array    # int32 scalar: h, the longest episode length drawn
  error: jax.Array    # float32 scalar: the smoothed error at this level (0 before any)
  updates: jax.Array  # int32 scalar: updates since the level began


def _check_number(name, value, ok, expected):
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
    raise ValueError(f'{name} must be {expected}, got {value!r}')


def make(sample_with_lengths: SampleWithLengths, *, batch_size: int, min_length: int = 1,
         initial_level: int = 1, max_level: int, threshold: float,
         metric: str = 'bit_errors_per_sequence', decay: float = 0.9,
         min_updates: int = 10) -> model_lib.DataSource:
  """Wraps a task in the exponential curriculum.

  Args:
    sample_with_lengths: ``(key, lengths) -> batch`` for ``lengths`` of shape
      ``[batch_size]`` in ``[min_length, max_level]`` (traced).
    batch_size: rows of a batch.
    min_length: the task's shortest episode.
    initial_level: ``h`` at the start.
    max_level: the cap on ``h``; the task must accept lengths up to it.
    threshold: ``h`` doubles once the smoothed ``metric`` is below this.
    metric: the learner's metric read by ``update`` (a scalar per step).
    decay: the moving average's decay per update, in ``[0, 1)``.
    min_updates: updates at a level before it may advance.

  Raises:
    ValueError: naming the argument, for a value out of range.
  """
  copy_task.check_int('batch_size', batch_size, 1)
  copy_task.check_int('min_length', min_length, 1)
  copy_task.check_int('initial_level', initial_level, min_length)
  copy_task.check_int('max_level', max_level, initial_level)
  copy_task.check_int('min_updates', min_updates, 1)
  _check_number('threshold', threshold, lambda x: 0 < x < float('inf'),
                'a positive finite number')
  _check_number('decay', decay, lambda x: 0 <= x < 1, 'a number in [0, 1)')
  if not isinstance(metric, str) or not metric:
    raise ValueError(f'metric must be the name of a learner metric, got {metric!r}')

  def init():
    return CurriculumState(level=jnp.asarray(initial_level, jnp.int32),
                           error=jnp.zeros((), jnp.float32),
                           updates=jnp.zeros((), jnp.int32))

  def sample(state, key):
    lengths_key, task_key = jax.random.split(key)
    high = jnp.maximum(state.level, min_length) + 1
    lengths = jax.random.randint(lengths_key, (batch_size,), min_length, high)
    return sample_with_lengths(task_key, lengths)

  def update(state, metrics):
    if metric not in metrics:
      raise ValueError(f'metric {metric!r} is not among the learner\'s metrics: '
                       f'{", ".join(sorted(metrics))}')
    x = jnp.asarray(metrics[metric], jnp.float32)
    updates = state.updates + 1
    # The bias-corrected average, kept corrected: the step towards x is (1-d) / (1-d^n).
    step = (1 - decay) / (1 - jnp.float32(decay) ** updates.astype(jnp.float32))
    error = state.error + step * (x - state.error)
    advance = (error < threshold) & (updates >= min_updates) & (state.level < max_level)
    return CurriculumState(
        level=jnp.where(advance, jnp.minimum(2 * state.level, max_level), state.level),
        error=jnp.where(advance, 0.0, error).astype(jnp.float32),
        updates=jnp.where(advance, 0, updates).astype(jnp.int32))

  return model_lib.DataSource(init=init, sample=sample, update=update,
                              batch_size=batch_size, batch_axis=1)


def make_copy(*, batch_size: int = 16, bits: int = 8, initial_level: int = 1,
              max_level: int = 64, threshold: float = 1.0,
              metric: str = 'bit_errors_per_sequence', decay: float = 0.9,
              min_updates: int = 10) -> model_lib.DataSource:
  """The copy task (``envs.copy_task``) under the curriculum; ``T = 2 * max_level + 1``."""
  copy_task.check_int('bits', bits, 1)
  copy_task.check_int('max_level', max_level, 1)
  return make(
      lambda key, lengths: copy_task.sample_with_lengths(key, lengths, bits=bits,
                                                         max_length=max_level),
      batch_size=batch_size, min_length=1, initial_level=initial_level,
      max_level=max_level, threshold=threshold, metric=metric, decay=decay,
      min_updates=min_updates)


def make_associative_recall(*, batch_size: int = 16, bits: int = 6, item_length: int = 3,
                            initial_level: int = 2, max_level: int = 64,
                            threshold: float = 1.0,
                            metric: str = 'bit_errors_per_sequence', decay: float = 0.9,
                            min_updates: int = 10) -> model_lib.DataSource:
  """Associative recall (``envs.associative_recall``) under the curriculum: ``h`` counts
  items, at least 2; ``T = (max_level + 2) * (item_length + 1)``."""
  copy_task.check_int('max_level', max_level, 2)
  associative_recall.check_args(bits=bits, item_length=item_length, min_items=2,
                                max_items=max_level)
  return make(
      lambda key, lengths: associative_recall.sample_with_lengths(
          key, lengths, bits=bits, item_length=item_length, max_items=max_level),
      batch_size=batch_size, min_length=2, initial_level=initial_level,
      max_level=max_level, threshold=threshold, metric=metric, decay=decay,
      min_updates=min_updates)


def make_priority_sort(*, batch_size: int = 16, bits: int = 8, num_outputs: int = 16,
                       initial_level: int = 1, max_level: int = 64,
                       threshold: float = 1.0,
                       metric: str = 'bit_errors_per_sequence', decay: float = 0.9,
                       min_updates: int = 10) -> model_lib.DataSource:
  """Priority sort (``envs.priority_sort``) under the curriculum: ``h`` counts input
  vectors; a row of ``N`` outputs ``min(num_outputs, N)``; ``T = max_level + 1 +
  num_outputs``."""
  copy_task.check_int('max_level', max_level, 1)
  copy_task.check_int('num_outputs', num_outputs, 1)
  if num_outputs > max_level:
    raise ValueError(f'num_outputs must be <= max_level, got {num_outputs} > {max_level}')
  priority_sort.check_args(bits=bits, max_length=max_level, num_outputs=num_outputs)
  return make(
      lambda key, lengths: priority_sort.sample_with_lengths(
          key, lengths, bits=bits, max_length=max_level, num_outputs=num_outputs),
      batch_size=batch_size, min_length=1, initial_level=initial_level,
      max_level=max_level, threshold=threshold, metric=metric, decay=decay,
      min_updates=min_updates)
