"""SAM's least-recently-used row without a scan of every row: access times in blocks.

``addressing.least_recently_used`` takes an argmin over all N access times each step:
the one cost of a SAM step that would grow with the memory. Here the times are kept in
blocks of B rows along with each block's minimum. An access stamps its rows and
recomputes the minima of their blocks only (O(rows · B)); the LRU row is the argmin
of the block minima, then the argmin inside that block (O(N / B + B)); with B ≈ √N
both are O(√N). Ties go to the lowest row, exactly as the flat argmin's.
Everything is vectorised: no per-row loop, so it batches under ``vmap``.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

_NEVER = 0                      # the access time of a row never accessed
_PAD = jnp.iinfo(jnp.int32).max  # padding rows past N: never the oldest


class LRUState(NamedTuple):
  last_access: jax.Array  # [num_blocks, B] int32: the step each row was last accessed
  block_min: jax.Array    # [num_blocks] int32: each block's oldest access time
  time: jax.Array         # () int32: accesses made (the next access's time is time + 1)


def block_size(num_rows: int) -> int:
  """A power of two near √N."""
  return 2 ** max(0, math.ceil(math.log2(max(num_rows, 1)) / 2))


def create(num_rows: int) -> LRUState:
  """No row accessed yet: row 0 is the least recently used."""
  size = block_size(num_rows)
  num_blocks = -(-num_rows // size)
  times = jnp.full((num_blocks * size,), _PAD, jnp.int32).at[:num_rows].set(_NEVER)
  times = times.reshape(num_blocks, size)
  return LRUState(times, times.min(axis=1), jnp.zeros((), jnp.int32))


def oldest(state: LRUState) -> jax.Array:
  """The least recently used row (a scalar int32)."""
  block = jnp.argmin(state.block_min)
  return (block * state.last_access.shape[1] + jnp.argmin(state.last_access[block])).astype(
      jnp.int32)


def touch(state: LRUState, rows: jax.Array, accessed: jax.Array) -> LRUState:
  """One access step: the ``rows [M]`` where ``accessed [M]`` get time ``state.time + 1``
  (repeats allowed)."""
  size = state.last_access.shape[1]
  time = state.time + 1
  blocks = rows // size
  flat = state.last_access.reshape(-1)
  flat = flat.at[rows].max(jnp.where(accessed, time, _NEVER))  # max: repeats never go back
  last_access = flat.reshape(state.last_access.shape)
  block_min = state.block_min.at[blocks].set(last_access[blocks].min(axis=1))
  return LRUState(last_access, block_min, time)


def times(state: LRUState, num_rows: int) -> jax.Array:
  """Every row's last access time, ``[N]`` (for tests and inspection)."""
  return state.last_access.reshape(-1)[:num_rows]
