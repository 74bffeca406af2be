"""The sparse DNC (Rae et al. 2016, SDNC) as a ``MemoryAccess``: the DNC's temporal
reads with SAM's sparse reads, writes and usage.

Per step, with H read heads:

  write  SAM's: w^W = α (γ w^R_{t−1} + (1 − γ) I^U) on the rows read last step or the
         least-recently-used row U (erased first)
  links  the sparse link matrix and precedence take the K_L largest weights of w^W
         (``memory/sparse_links.py``, at most K_L entries per row, K_L = 8 as in the
         paper)
  read   per head, K rows each of backward b = Lᵀ w^R_{t−1}, content (the K rows most
         cosine-similar to the key, softmax(β cos) over them) and forward
         f = L w^R_{t−1}, mixed by the read modes π (softmax over the three):
         w^R = π_b b + π_c c + π_f f on 3K rows; r = Σ w^R M[rows]
  usage  SAM's: a row is accessed when a read or write weight on it exceeds δ

The memory side is SAM's one ``custom_vjp`` step (``memory/sparse_step.py``), gathering
the link rows with the content rows, so the backward pass keeps O(H·K·W) values per step
for the memory; the link state adds O(N·K_L) (not N², the DNC's).

Interface: SAM's (``sam.interface_sizes``) and ``read_modes [H, 3]`` (backward, content,
forward).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from memory import addressing
from memory import index as index_lib
from memory import lru
from memory import memory_core
from memory import sam
from memory import sparse_links
from memory import sparse_step

LINKS_PER_ROW = 8  # K_L, the paper's


class SDNCState(NamedTuple):
  memory: jax.Array                # [N, W]
  usage: lru.LRUState
  index: Any                       # the index's state (memory/index.py)
  links: sparse_links.SparseLinks
  read_indices: jax.Array          # [H, 3K] int32: content, backward, forward rows
  read_weights: jax.Array          # [H, 3K]


def interface_sizes(num_reads: int, word_size: int) -> dict[str, tuple[int, ...]]:
  return dict(sam.interface_sizes(num_reads, word_size), read_modes=(num_reads, 3))


def sdnc_access(*, num_rows: int, word_size: int, num_reads: int, k: int,
                links_per_row: int = LINKS_PER_ROW,
                index: index_lib.Index | None = None) -> memory_core.MemoryAccess:
  """An SDNC with ``num_reads`` heads reading ``3k`` rows each (``k`` of each mode) of an
  ``[num_rows, word_size]`` memory, links capped at ``links_per_row`` per row."""
  sam.check_sizes(num_rows, word_size, num_reads, k)
  if not isinstance(links_per_row, int) or links_per_row < 1:
    raise ValueError(f'links_per_row must be a positive integer, got {links_per_row!r}')
  index = index or index_lib.exact()
  sizes = interface_sizes(num_reads, word_size)

  def find(index_state, memory, written_rows, keys):
    index_state = index.insert(index_state, memory, written_rows)
    return index_state, index.query(index_state, memory, keys, k)

  def initial_state():
    return SDNCState(memory=jnp.zeros((num_rows, word_size)), usage=lru.create(num_rows),
                     index=index.init(), links=sparse_links.create(num_rows, links_per_row),
                     read_indices=jnp.zeros((num_reads, 3 * k), jnp.int32),
                     read_weights=jnp.zeros((num_reads, 3 * k)))

  def step(state: SDNCState, interface):
    pieces = memory_core.split_interface(interface, sizes)
    keys, strengths, add, alpha, gamma = sam.decode(pieces)
    modes = jax.nn.softmax(pieces['read_modes'], axis=-1)             # [H, 3]
    oldest, rows, weights = sam.write_rows(state.usage, state.read_indices,
                                           state.read_weights, alpha, gamma)
    # The links take the K_L largest write weights: the rest (of the 3K·H rows read last
    # step) add entries w_i p_j too small to enter a row of K_L and barely decay any.
    link_rows, link_weights = sparse_links.merge_top_k(rows, weights, links_per_row)
    links = sparse_links.update(state.links, link_rows, link_weights, jnp.sum(weights))
    back_rows, back = sparse_links.backward_weights(
        links, state.read_indices, state.read_weights, k)
    fwd_rows, fwd = sparse_links.forward_weights(
        links, state.read_indices, state.read_weights, k)
    memory, index_state, content_rows, gathered = sparse_step.write_and_gather(
        find, state.memory, oldest, rows, weights, add, state.index, keys,
        jnp.concatenate([back_rows, fwd_rows], axis=1))
    content = addressing.weights_of_rows(keys, strengths, content_rows, gathered[:, :k])
    read_indices = jnp.concatenate([content_rows, back_rows, fwd_rows], axis=1)
    read_weights = jnp.concatenate([modes[:, 1:2] * content.weights, modes[:, 0:1] * back,
                                    modes[:, 2:3] * fwd], axis=1)
    reads = jnp.einsum('hk,hkw->hw', read_weights, gathered)
    accessed_rows = jnp.concatenate([rows, read_indices.reshape(-1)])
    accessed = jax.lax.stop_gradient(
        jnp.concatenate([weights, read_weights.reshape(-1)])) > addressing.DELTA
    usage = lru.touch(state.usage, accessed_rows, accessed)
    return SDNCState(memory, usage, index_state, links, read_indices, read_weights), reads

  return memory_core.MemoryAccess(
      interface_size=memory_core.interface_size(sizes), num_reads=num_reads,
      word_size=word_size, initial_state=initial_state, step=step)
