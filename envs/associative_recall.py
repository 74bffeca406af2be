"""Associative recall (Graves et al. 2014, "Neural Turing Machines"; Rae et al. 2016, SAM).

A row shows ``n`` items, each ``item_length`` random binary vectors of ``bits`` bits
(the NTM paper's items are 3 vectors of 6 bits). Then one of the items other than the
last is shown again as a query, bracketed by a distinct query delimiter; the model must
then output the item that followed the query in the sequence. Batches are a pure function
of a key, time-major and padded to the most items allowed. With ``P = item_length + 1``
(an item and its delimiter)::

  inputs   [T, B, bits + 2]
    steps i*P                      item delimiter (channel ``bits`` is 1), item i < n
    steps i*P + 1 .. i*P + l       item i's vectors (channels ``0 .. bits-1``)
    step  n*P                      query delimiter (channel ``bits + 1`` is 1)
    steps n*P + 1 .. n*P + l       the query: item q's vectors, q ~ U{0, n - 2}
    step  (n+1)*P                  query delimiter again: answer now
    later                          zeros
  targets  [T, B, bits]            item q + 1's vectors at steps (n+1)*P + 1 .. (n+2)*P - 1
  mask     [T, B]                  1 at exactly those ``l`` steps

with ``l = item_length``, ``T = (max_items + 2) * P`` and each row's item count
``n ~ U{min_items, max_items}`` (at least 2, so that a query has a successor). Items are
not forced distinct: with ``bits * item_length`` bits per item a repeat is rare, and the
target is always the successor of the query's own position ``q``.
"""

import functools

import jax
import jax.numpy as jnp

from core import model as model_lib
from envs import copy_task

SequenceBatch = copy_task.SequenceBatch


def num_steps(*, item_length: int, max_items: int) -> int:
  """``T``: the padded length of a batch with at most ``max_items`` items."""
  return (max_items + 2) * (item_length + 1)


# Jitted so that an eager caller compiles once, not op by op; a jitted caller inlines it.
@functools.partial(jax.jit, static_argnames=('bits', 'item_length', 'max_items'))
def sample_with_lengths(key: jax.Array, num_items: jax.Array, *, bits: int,
                        item_length: int, max_items: int) -> SequenceBatch:
  """Recall episodes with the given item counts, padded to ``num_steps(...)``.

  Args:
    key: the items' and queries' key.
    num_items: ``[B]`` int32 in ``[2, max_items]``; may be traced (a curriculum draws
      them), since only ``max_items`` fixes a shape.
    bits: the width of a vector.
    item_length: vectors per item.
    max_items: the most items a row may have (static).
  """
  items_key, query_key = jax.random.split(key)
  batch_size = num_items.shape[0]
  period = item_length + 1
  total = num_steps(item_length=item_length, max_items=max_items)
  # Item i's vector j is row i * item_length + j.
  vectors = jax.random.bernoulli(items_key, 0.5, (max_items * item_length, batch_size, bits))
  vectors = vectors.astype(jnp.float32)
  query = jax.random.randint(query_key, (batch_size,), 0, num_items - 1)   # U{0, n-2}

  t = jnp.arange(total)[:, None]                             # [T, 1]
  n = num_items[None, :]                                     # [1, B]
  q = query[None, :]
  in_items = t < n * period
  item_delimiter = in_items & (t % period == 0)
  item_vector = in_items & (t % period != 0)
  item_source = (t // period) * item_length + t % period - 1
  r = t - n * period                                         # steps since the query began
  query_delimiter = (r == 0) | (r == period)
  query_vector = (r >= 1) & (r <= item_length)
  scored = (r > period) & (r < 2 * period)
  query_source = q * item_length + r - 1
  answer_source = (q + 1) * item_length + r - period - 1
  source = jnp.where(item_vector, item_source,
                     jnp.where(query_vector, query_source, answer_source))
  source = jnp.clip(source, 0, max_items * item_length - 1)  # [T, B]
  gathered = jnp.take_along_axis(vectors, jnp.broadcast_to(
      source[..., None], (total, batch_size, bits)), axis=0)
  shown = (item_vector | query_vector)[..., None]
  inputs = jnp.concatenate([gathered * shown, item_delimiter[..., None],
                            query_delimiter[..., None]], axis=-1).astype(jnp.float32)
  targets = gathered * scored[..., None]
  return SequenceBatch(inputs, targets, scored.astype(jnp.float32))


@functools.partial(jax.jit, static_argnames=('batch_size', 'bits', 'item_length',
                                             'min_items', 'max_items'))
def sample(key: jax.Array, *, batch_size: int, bits: int, item_length: int,
           min_items: int, max_items: int) -> SequenceBatch:
  """One batch of recall episodes (see the module docstring)."""
  episode_key, count_key = jax.random.split(key)
  num_items = jax.random.randint(count_key, (batch_size,), min_items, max_items + 1)
  return sample_with_lengths(episode_key, num_items, bits=bits, item_length=item_length,
                             max_items=max_items)


def check_args(*, bits: int, item_length: int, min_items: int, max_items: int) -> None:
  """Raises ValueError naming the first bad argument."""
  copy_task.check_int('bits', bits, 1)
  copy_task.check_int('item_length', item_length, 1)
  copy_task.check_int('min_items', min_items, 2)
  copy_task.check_int('max_items', max_items, 2)
  if min_items > max_items:
    raise ValueError(f'min_items must be <= max_items, got {min_items} > {max_items}')


def make(*, batch_size: int = 16, bits: int = 6, item_length: int = 3, min_items: int = 2,
         max_items: int = 6) -> model_lib.DataSource:
  """Associative recall as a stateless data source (defaults: the NTM paper's).

  Raises:
    ValueError: naming the argument, for a non-positive size, fewer than 2 items or
      ``min_items > max_items``.
  """
  copy_task.check_int('batch_size', batch_size, 1)
  check_args(bits=bits, item_length=item_length, min_items=min_items, max_items=max_items)
  return model_lib.stateless(
      lambda key: sample(key, batch_size=batch_size, bits=bits, item_length=item_length,
                         min_items=min_items, max_items=max_items),
      batch_size=batch_size, batch_axis=1)
