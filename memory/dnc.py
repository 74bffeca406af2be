"""The Differentiable Neural Computer (Graves et al., Nature 2016) as a ``MemoryAccess``.

The dense baseline of the Sparse Access Memory paper (and the model the SDNC sparsifies).
One step, in the paper's order (Methods, "Memory addressing"):

  1. usage    u_t = (u + w^W_{t−1} − u ∘ w^W_{t−1}) ∘ Π_i (1 − f_i w^R_{i,t−1})
  2. write    w^W = g^w (g^a a_t + (1 − g^a) c^W),  a_t the allocation of u_t and
              c^W the content weighting of the write key on the previous memory
  3. memory   M_t = M_{t−1} ∘ (1 − w^W eᵀ) + w^W vᵀ
  4. links    L_t, p_t from w^W
  5. read     w^R_i = π_i[0] b_i + π_i[1] c^R_i + π_i[2] f_i: backward b = L_tᵀ w^R_{i,t−1},
              content on M_t, forward f = L_t w^R_{i,t−1}
  6. reads    r_i = M_tᵀ w^R_i

A single write head (the paper's DNC); several would need a sequential allocation and a
link matrix per head, as in DeepMind's implementation.

Interface layout (``split_interface`` order, the paper's ξ_t; R read heads, W word size)::

  read_keys       [R, W]  raw
  read_strengths  [R]     oneplus     β ≥ 1
  write_key       [W]     raw
  write_strength  [1]     oneplus
  erase           [W]     sigmoid
  write_vector    [W]     raw
  free_gates      [R]     sigmoid
  allocation_gate [1]     sigmoid
  write_gate      [1]     sigmoid
  read_modes      [R, 3]  softmax over (backward, content, forward)

for ``R·W + 3W + 5R + 3`` numbers.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from memory import addressing
from memory import memory_core

# Not zero, unlike the paper: ``addressing.cosine_similarity``'s gradient is 0/0 at an
# all-zero row, so a zero memory makes every gradient NaN. Identical rows are equally
# similar to any key, so the first lookups are still uniform, as from an empty memory.
INITIAL_MEMORY = 1e-6


class DNCState(NamedTuple):
  memory: jax.Array         # [N, W]
  usage: jax.Array          # [N] in [0, 1]
  links: jax.Array          # [N, N]: L[i, j], how much row i was written right after row j
  precedence: jax.Array     # [N]: how much each row was the last one written
  read_weights: jax.Array   # [R, N] at the previous step
  write_weights: jax.Array  # [N] at the previous step


def _check_positive(**sizes: int) -> None:
  for name, size in sizes.items():
    if size < 1:
      raise ValueError(f'{name} must be at least 1, got {size}')


def interface_sizes(word_size: int, num_reads: int) -> dict[str, tuple[int, ...]]:
  """The named pieces of the interface vector and their shapes, in order."""
  return {
      'read_keys': (num_reads, word_size),
      'read_strengths': (num_reads,),
      'write_key': (word_size,),
      'write_strength': (1,),
      'erase': (word_size,),
      'write_vector': (word_size,),
      'free_gates': (num_reads,),
      'allocation_gate': (1,),
      'write_gate': (1,),
      'read_modes': (num_reads, 3),
  }


def dnc_access(*, num_rows: int, word_size: int, num_reads: int,
               num_writes: int = 1) -> memory_core.MemoryAccess:
  """A DNC of ``num_rows`` × ``word_size`` memory, ``num_reads`` read heads, one write head.

  Raises:
    ValueError: if ``num_writes`` is not 1 or a size is below one (naming it).
  """
  _check_positive(num_rows=num_rows, word_size=word_size, num_reads=num_reads)
  if num_writes != 1:
    raise ValueError(f'dnc_access supports one write head, got num_writes={num_writes}')
  sizes = interface_sizes(word_size, num_reads)

  def initial_state() -> DNCState:
    def zeros(*shape):
      return jnp.zeros(shape, jnp.float32)

    return DNCState(memory=jnp.full((num_rows, word_size), INITIAL_MEMORY, jnp.float32),
                    usage=zeros(num_rows), links=zeros(num_rows, num_rows),
                    precedence=zeros(num_rows), read_weights=zeros(num_reads, num_rows),
                    write_weights=zeros(num_rows))

  def step(state: DNCState, interface: jax.Array) -> tuple[DNCState, jax.Array]:
    p = memory_core.split_interface(interface, sizes)
    usage = addressing.update_usage(state.usage, state.write_weights,
                                    jax.nn.sigmoid(p['free_gates']), state.read_weights)

    write_content = addressing.content_weights(
        state.memory, p['write_key'][None], addressing.oneplus(p['write_strength']))[0]
    allocation_gate = jax.nn.sigmoid(p['allocation_gate'])
    write_weights = jax.nn.sigmoid(p['write_gate']) * (
        allocation_gate * addressing.allocation_weights(usage)
        + (1.0 - allocation_gate) * write_content)                      # [N]
    memory = addressing.erase_and_write(state.memory, write_weights[None],
                                        jax.nn.sigmoid(p['erase'])[None],
                                        p['write_vector'][None])
    links, precedence = addressing.update_links(state.links, state.precedence,
                                                write_weights)

    forward, backward = addressing.directional_weights(links, state.read_weights)
    read_content = addressing.content_weights(memory, p['read_keys'],
                                              addressing.oneplus(p['read_strengths']))
    modes = jax.nn.softmax(p['read_modes'], axis=-1)                  # [R, 3]
    read_weights = (modes[:, 0:1] * backward + modes[:, 1:2] * read_content
                    + modes[:, 2:3] * forward)                          # [R, N]
    reads = addressing.dense_read(memory, read_weights)
    return DNCState(memory, usage, links, precedence, read_weights, write_weights), reads

  return memory_core.MemoryAccess(
      interface_size=memory_core.interface_size(sizes), num_reads=num_reads,
      word_size=word_size, initial_state=initial_state, step=step)
