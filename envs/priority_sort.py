"""Priority sort (Graves et al. 2014, "Neural Turing Machines"; Rae et al. 2016, SAM).

A row shows ``N`` random binary vectors, each with a scalar priority drawn from
``U[-1, 1]`` as an extra input channel, then a delimiter; the model must then output the
``K = min(num_outputs, N)`` highest-priority vectors, highest first. Batches are a pure
function of a key, time-major and padded to the most vectors allowed::

  inputs   [T, B, bits + 2]  steps 0 .. N-1: vector i (channels ``0 .. bits-1``) and its
                             priority (channel ``bits``); step N: the delimiter (channel
                             ``bits + 1`` is 1); zeros afterwards
  targets  [T, B, bits]      at step N + 1 + k the vector of the k-th highest priority,
                             k = 0 .. K-1
  mask     [T, B]            1 at exactly those K steps

with ``T = max_length + 1 + num_outputs`` and each row's ``N ~ U{min_length,
max_length}``. The NTM paper's setting (the defaults) is 20 vectors, the 16 highest
output. A row shorter than ``num_outputs`` (as a curriculum draws) outputs all its
vectors, sorted. Priorities are continuous, so ties have probability zero.
"""

import functools

import jax
import jax.numpy as jnp

from core import model as model_lib
from envs import copy_task

SequenceBatch = copy_task.SequenceBatch


# Jitted so that an eager caller compiles once, not op by op; a jitted caller inlines it.
@functools.partial(jax.jit, static_argnames=('bits', 'max_length', 'num_outputs'))
def sample_with_lengths(key: jax.Array, lengths: jax.Array, *, bits: int, max_length: int,
                        num_outputs: int) -> SequenceBatch:
  """Sort episodes with the given numbers of vectors, padded to ``max_length + 1 +
  num_outputs`` steps.

  Args:
    key: the vectors' and priorities' key.
    lengths: ``[B]`` int32 in ``[1, max_length]``; may be traced (a curriculum draws
      them), since only ``max_length`` and ``num_outputs`` fix shapes.
    bits: the width of a vector.
    max_length: the most vectors a row may show (static).
    num_outputs: the most vectors a row must output.
  """
  vectors_key, priority_key = jax.random.split(key)
  batch_size = lengths.shape[0]
  total = max_length + 1 + num_outputs
  vectors = jax.random.bernoulli(vectors_key, 0.5, (max_length, batch_size, bits))
  vectors = vectors.astype(jnp.float32)
  priorities = jax.random.uniform(priority_key, (max_length, batch_size), jnp.float32,
                                  -1.0, 1.0)

  # Padding vectors rank below every shown one.
  shown_slot = jnp.arange(max_length)[:, None] < lengths[None, :]          # [N, B]
  order = jnp.argsort(jnp.where(shown_slot, -priorities, jnp.inf), axis=0)  # [N, B]

  t = jnp.arange(total)[:, None]                                           # [T, 1]
  shown = t < lengths[None, :]
  delimiter = t == lengths[None, :]
  rank = t - lengths[None, :] - 1                                          # output k
  scored = (rank >= 0) & (rank < jnp.minimum(num_outputs, lengths)[None, :])
  slot = jnp.take_along_axis(order, jnp.clip(rank, 0, max_length - 1), axis=0)   # [T, B]
  sorted_vectors = jnp.take_along_axis(vectors, jnp.broadcast_to(
      slot[..., None], (total, batch_size, bits)), axis=0)
  pad = total - max_length
  padded_vectors = jnp.concatenate([vectors, jnp.zeros((pad, batch_size, bits))])
  padded_priorities = jnp.concatenate([priorities, jnp.zeros((pad, batch_size))])
  inputs = jnp.concatenate([padded_vectors * shown[..., None],
                            (padded_priorities * shown)[..., None],
                            delimiter[..., None]], axis=-1).astype(jnp.float32)
  targets = sorted_vectors * scored[..., None]
  return SequenceBatch(inputs, targets, scored.astype(jnp.float32))


@functools.partial(jax.jit, static_argnames=('batch_size', 'bits', 'min_length',
                                             'max_length', 'num_outputs'))
def sample(key: jax.Array, *, batch_size: int, bits: int, min_length: int, max_length: int,
           num_outputs: int) -> SequenceBatch:
  """One batch of priority-sort episodes (see the module docstring)."""
  episode_key, length_key = jax.random.split(key)
  lengths = jax.random.randint(length_key, (batch_size,), min_length, max_length + 1)
  return sample_with_lengths(episode_key, lengths, bits=bits, max_length=max_length,
                             num_outputs=num_outputs)


def check_args(*, bits: int, max_length: int, num_outputs: int) -> None:
  """Raises ValueError naming the first bad argument (``min_length`` is the caller's)."""
  copy_task.check_int('bits', bits, 1)
  copy_task.check_int('max_length', max_length, 1)
  copy_task.check_int('num_outputs', num_outputs, 1)
  if num_outputs > max_length:
    raise ValueError(f'num_outputs must be <= max_length, got {num_outputs} > {max_length}')


def make(*, batch_size: int = 16, bits: int = 8, min_length: int = 20, max_length: int = 20,
         num_outputs: int = 16) -> model_lib.DataSource:
  """Priority sort as a stateless data source (defaults: the NTM paper's).

  Raises:
    ValueError: naming the argument, for a non-positive size, ``min_length >
      max_length`` or ``num_outputs > max_length``.
  """
  copy_task.check_int('batch_size', batch_size, 1)
  copy_task.check_int('min_length', min_length, 1)
  check_args(bits=bits, max_length=max_length, num_outputs=num_outputs)
  if min_length > max_length:
    raise ValueError(f'min_length must be <= max_length, got {min_length} > {max_length}')
  return model_lib.stateless(
      lambda key: sample(key, batch_size=batch_size, bits=bits, min_length=min_length,
                         max_length=max_length, num_outputs=num_outputs),
      batch_size=batch_size, batch_axis=1)
