"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014) as a ``MemoryAccess``.

The dense baseline of the Sparse Access Memory paper. Each head addresses the memory in
four stages (NTM paper §3.3): content weights ``softmax(β cos(k, M_i))``; interpolation
with the head's previous weighting by a gate ``g``; a circular convolution with a shift
distribution over {-1, 0, +1}; and sharpening by ``γ ≥ 1``. Write heads also emit erase
and add vectors. Within a step the write heads address and write first, then the read
heads address the updated memory, so a word written at step t can be read at step t.

Interface layout (``split_interface`` order; R read heads, H write heads, W word size)::

  read_keys      [R, W]   raw
  read_strengths [R]      softplus            β > 0
  read_gates     [R]      sigmoid             g ∈ [0, 1]
  read_shifts    [R, 3]   softmax             s over shifts (−1, 0, +1)
  read_sharpen   [R]      oneplus             γ ≥ 1
  write_keys     [H, W]   ... the same five pieces for the write heads ...
  write_strengths, write_gates [H], write_shifts [H, 3], write_sharpen [H]
  erase          [H, W]   sigmoid             e ∈ [0, 1]
  add            [H, W]   raw

for ``R·(W + 6) + H·(3W + 6)`` numbers.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from memory import addressing
from memory import memory_core

# The memory starts at this small constant rather than zero: the cosine similarity's
# gradient is 0/0 at an all-zero row (``addressing.cosine_similarity`` takes the plain
# norm), so a zero memory makes every gradient NaN. Identical rows are equally similar
# to any key, so the first content lookups are still uniform, as from an empty memory.
INITIAL_MEMORY = 1e-6

_SHARPEN_EPS = 1e-6  # keeps log(w) finite when a shifted weight underflows to zero


class NTMState(NamedTuple):
  memory: jax.Array         # [N, W]
  read_weights: jax.Array   # [R, N]: each read head's weighting at the previous step
  write_weights: jax.Array  # [H, N]: each write head's weighting at the previous step


def _check_positive(**sizes: int) -> None:
  for name, size in sizes.items():
    if size < 1:
      raise ValueError(f'{name} must be at least 1, got {size}')


def interface_sizes(word_size: int, num_reads: int,
                    num_writes: int) -> dict[str, tuple[int, ...]]:
  """The named pieces of the interface vector and their shapes, in order."""
  sizes = {}
  for prefix, heads in (('read', num_reads), ('write', num_writes)):
    sizes.update({f'{prefix}_keys': (heads, word_size), f'{prefix}_strengths': (heads,),
                  f'{prefix}_gates': (heads,), f'{prefix}_shifts': (heads, 3),
                  f'{prefix}_sharpen': (heads,)})
  sizes.update({'erase': (num_writes, word_size), 'add': (num_writes, word_size)})
  return sizes


def circular_shift(weights: jax.Array, shifts: jax.Array) -> jax.Array:
  """``w̃[i] = Σ_s w[i − s] · shifts[s]`` for s ∈ (−1, 0, +1), indices mod N.

  Args:
    weights: ``[H, N]``.
    shifts: ``[H, 3]``, a distribution over the shifts (−1, 0, +1) per head.
  Returns:
    ``[H, N]``; a +1 shift moves each head's weight to the next row.
  """
  back, stay, forward = shifts[:, 0:1], shifts[:, 1:2], shifts[:, 2:3]
  return (back * jnp.roll(weights, -1, axis=-1) + stay * weights
          + forward * jnp.roll(weights, 1, axis=-1))


def sharpen(weights: jax.Array, gamma: jax.Array) -> jax.Array:
  """``w^γ / Σ_j w_j^γ`` per head, for ``weights [H, N]`` and ``gamma [H]``.

  Computed as ``softmax(γ log w)``: the powers of small weights would underflow, and the
  softmax sums to one exactly.
  """
  return jax.nn.softmax(gamma[:, None] * jnp.log(weights + _SHARPEN_EPS), axis=-1)


def address(memory: jax.Array, previous: jax.Array, keys: jax.Array, strengths: jax.Array,
            gates: jax.Array, shifts: jax.Array, gamma: jax.Array) -> jax.Array:
  """The NTM's content-then-location addressing of H heads (NTM paper eqs. 5–9).

  Args:
    memory: ``[N, W]``.
    previous: ``[H, N]`` the heads' weightings at the previous step.
    keys: ``[H, W]``; strengths, gates, gamma: ``[H]``; shifts: ``[H, 3]`` (activated).
  Returns:
    ``[H, N]`` weightings, each summing to one.
  """
  content = addressing.content_weights(memory, keys, strengths)
  gated = gates[:, None] * content + (1.0 - gates[:, None]) * previous
  return sharpen(circular_shift(gated, shifts), gamma)


def ntm_access(*, num_rows: int, word_size: int, num_reads: int,
               num_writes: int = 1) -> memory_core.MemoryAccess:
  """An NTM of ``num_rows`` × ``word_size`` memory with the given read and write heads.

  Raises:
    ValueError: if a size is below one (naming it).
  """
  _check_positive(num_rows=num_rows, word_size=word_size, num_reads=num_reads,
                  num_writes=num_writes)
  sizes = interface_sizes(word_size, num_reads, num_writes)

  def initial_state() -> NTMState:
    # Every head starts on row 0 so a purely location-based head (the copy task's)
    # has a definite place to shift from; a uniform start would blur every shift.
    return NTMState(
        memory=jnp.full((num_rows, word_size), INITIAL_MEMORY, jnp.float32),
        read_weights=jax.nn.one_hot(jnp.zeros(num_reads, jnp.int32), num_rows,
                                    dtype=jnp.float32),
        write_weights=jax.nn.one_hot(jnp.zeros(num_writes, jnp.int32), num_rows,
                                     dtype=jnp.float32))

  def head_weights(memory, previous, pieces, prefix):
    return address(memory, previous, pieces[f'{prefix}_keys'],
                   jax.nn.softplus(pieces[f'{prefix}_strengths']),
                   jax.nn.sigmoid(pieces[f'{prefix}_gates']),
                   jax.nn.softmax(pieces[f'{prefix}_shifts'], axis=-1),
                   addressing.oneplus(pieces[f'{prefix}_sharpen']))

  def step(state: NTMState, interface: jax.Array) -> tuple[NTMState, jax.Array]:
    pieces = memory_core.split_interface(interface, sizes)
    write_weights = head_weights(state.memory, state.write_weights, pieces, 'write')
    memory = addressing.erase_and_write(state.memory, write_weights,
                                        jax.nn.sigmoid(pieces['erase']), pieces['add'])
    read_weights = head_weights(memory, state.read_weights, pieces, 'read')
    reads = addressing.dense_read(memory, read_weights)
    return NTMState(memory, read_weights, write_weights), reads

  return memory_core.MemoryAccess(
      interface_size=memory_core.interface_size(sizes), num_reads=num_reads,
      word_size=word_size, initial_state=initial_state, step=step)
