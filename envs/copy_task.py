"""The copy task (Graves et al. 2014, "Neural Turing Machines"; Rae et al. 2016, SAM §4.1).

A sequence of random binary vectors is shown, then a delimiter; the model must then output
the sequence it saw. Batches are a pure function of a key, time-major and padded to the
longest allowed sequence::

  inputs   [T, B, bits + 1]  the vectors (channel ``bits`` is 0), then the delimiter
                             (channel ``bits`` is 1) at step ``L``; zeros afterwards
  targets  [T, B, bits]      the vectors again at steps ``L + 1 .. 2L``
  mask     [T, B]            1 where a target is scored

with ``T = 2 * max_length + 1`` and each row's length ``L ~ U{min_length, max_length}``.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from core import model as model_lib


class SequenceBatch(NamedTuple):
  """A batch of a sequence-prediction task, time-major."""
  inputs: jax.Array   # [T, B, input_size] float32
  targets: jax.Array  # [T, B, output_size] float32 in {0, 1}
  mask: jax.Array     # [T, B] float32: 1 where the target is scored


def check_int(name: str, value, minimum: int) -> None:
  """Raises ValueError naming ``name`` unless ``value`` is an integer >= ``minimum``."""
  if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
    raise ValueError(f'{name} must be an integer >= {minimum}, got {value!r}')


# Jitted so that an eager caller compiles once, not op by op; a jitted caller inlines it.
@functools.partial(jax.jit, static_argnames=('bits', 'max_length'))
def sample_with_lengths(key: jax.Array, lengths: jax.Array, *, bits: int,
                        max_length: int) -> SequenceBatch:
  """Copy sequences of the given lengths, padded to ``T = 2 * max_length + 1``.

  Args:
    key: the vectors' key.
    lengths: ``[B]`` int32 in ``[1, max_length]``; may be traced (a curriculum draws
      them), since only ``max_length`` fixes a shape.
    bits: the width of a vector.
    max_length: the longest sequence allowed (static).
  """
  batch_size = lengths.shape[0]
  num_steps = 2 * max_length + 1
  vectors = jax.random.bernoulli(key, 0.5, (max_length, batch_size, bits))
  vectors = vectors.astype(jnp.float32)
  t = jnp.arange(num_steps)[:, None]                       # [T, 1]
  shown = t < lengths[None, :]                             # [T, B]
  delimiter = t == lengths[None, :]
  scored = (t > lengths[None, :]) & (t <= 2 * lengths[None, :])
  padded = jnp.concatenate([vectors, jnp.zeros((max_length + 1, batch_size, bits))])
  inputs = jnp.concatenate([padded * shown[..., None], delimiter[..., None]], axis=-1)
  # Output step L + 1 + i replays vector i.
  source = jnp.clip(t - lengths[None, :] - 1, 0, max_length - 1)   # [T, B]
  replayed = jnp.take_along_axis(vectors, jnp.broadcast_to(
      source[..., None], (num_steps, batch_size, bits)), axis=0)
  targets = replayed * scored[..., None]
  return SequenceBatch(inputs, targets, scored.astype(jnp.float32))


@functools.partial(jax.jit, static_argnames=('batch_size', 'bits', 'min_length', 'max_length'))
def sample(key: jax.Array, *, batch_size: int, bits: int, min_length: int,
           max_length: int) -> SequenceBatch:
  """One batch of copy sequences (see the module docstring)."""
  vectors_key, length_key = jax.random.split(key)
  lengths = jax.random.randint(length_key, (batch_size,), min_length, max_length + 1)
  return sample_with_lengths(vectors_key, lengths, bits=bits, max_length=max_length)


def make(*, batch_size: int = 16, bits: int = 8, min_length: int = 1,
         max_length: int = 10) -> model_lib.DataSource:
  """The copy task as a stateless data source.

  Raises:
    ValueError: naming the argument, for a non-positive size or ``min_length >
      max_length``.
  """
  check_int('batch_size', batch_size, 1)
  check_int('bits', bits, 1)
  check_int('min_length', min_length, 1)
  check_int('max_length', max_length, 1)
  if min_length > max_length:
    raise ValueError(f'min_length must be <= max_length, got {min_length} > {max_length}')
  return model_lib.stateless(
      lambda key: sample(key, batch_size=batch_size, bits=bits, min_length=min_length,
                         max_length=max_length),
      batch_size=batch_size, batch_axis=1)
