"""Addressing primitives shared by the memory models (NTM, DNC, SAM, SDNC).

Everything here works on ONE memory, ``[N, W]`` (N rows of W-wide words), and ``H``
heads; the models ``jax.vmap`` over the batch. Sparse weightings are ``(indices [H, K],
weights [H, K])`` pairs: K rows per head and their weights, so a step touches O(H·K·W)
values instead of O(N·W).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

_EPS = 1e-6


def _norm(x: jax.Array) -> jax.Array:
  """The Euclidean norm over the last axis, with a finite gradient at zero (fresh rows)."""
  return jnp.sqrt(jnp.sum(x * x, axis=-1) + _EPS * _EPS)


def oneplus(x: jax.Array) -> jax.Array:
  """``1 + softplus(x)``: a strength in [1, ∞) (the DNC's read/write strengths)."""
  return 1.0 + jax.nn.softplus(x)


def row_norms(memory: jax.Array) -> jax.Array:
  """What ``cosine_similarity`` divides by for each row: ``[..., N]``."""
  return _norm(memory)


def cosine_similarity(memory: jax.Array, keys: jax.Array,
                      memory_norms: jax.Array | None = None) -> jax.Array:
  """``cos(keys[h], memory[i])`` as ``[H, N]`` for ``memory [N, W]`` and ``keys [H, W]``;
  ``memory_norms`` (``row_norms(memory)``), where the caller keeps them, saves a pass over
  the memory.

  A zero row (a fresh memory) has similarity 0 to every key.
  """
  dots = keys @ memory.T
  if memory_norms is None:
    memory_norms = _norm(memory)
  norms = _norm(keys)[:, None] * memory_norms[None, :]
  return dots / (norms + _EPS)


def content_weights(memory: jax.Array, keys: jax.Array, strengths: jax.Array) -> jax.Array:
  """Dense content weights ``softmax_i(β_h cos(k_h, M_i))``: ``[H, N]``, each row sums to 1."""
  return jax.nn.softmax(strengths[:, None] * cosine_similarity(memory, keys), axis=-1)


class SparseWeights(NamedTuple):
  """K rows per head and their weights (each head's weights sum to at most 1)."""
  indices: jax.Array  # [H, K] int32
  weights: jax.Array  # [H, K]


def exact_top_k(memory: jax.Array, keys: jax.Array, k: int,
                memory_norms: jax.Array | None = None) -> jax.Array:
  """The ``[H, K]`` rows most cosine-similar to each key: one matmul and ``top_k_rows``
  (``memory_norms`` as ``cosine_similarity``'s).

  The selection is a discrete choice and carries no gradient, so the memory is read under
  ``stop_gradient`` here and the N×W matrix is never kept for the backward pass.
  """
  similarity = cosine_similarity(jax.lax.stop_gradient(memory), jax.lax.stop_gradient(keys),
                                 memory_norms)
  return top_k_rows(similarity, k)


_BLOCK = 256  # rows per block of the two-stage top-K


def top_k_rows(scores: jax.Array, k: int) -> jax.Array:
  """``lax.top_k(scores, k)[1]`` over the last axis, exact, in two stages for long rows.

  A full ``top_k`` over N scores is slow on CPU. The K best scores lie in the K blocks
  with the best maxima, so: the maximum of each block of ``_BLOCK`` scores, the top K
  blocks, then the top K of those K·_BLOCK scores. Ties go to the lower index either way.
  """
  num = scores.shape[-1]
  if num <= 4 * _BLOCK * k or num % _BLOCK:
    return jax.lax.top_k(scores, k)[1].astype(jnp.int32)
  blocks = scores.reshape(scores.shape[:-1] + (num // _BLOCK, _BLOCK))
  best_blocks = jax.lax.top_k(jnp.max(blocks, axis=-1), k)[1]             # [..., K]
  best_blocks = jnp.sort(best_blocks, axis=-1)  # index order keeps ties to the lower row
  candidates = jnp.take_along_axis(blocks, best_blocks[..., None], axis=-2)  # [..., K, B]
  positions = jax.lax.top_k(candidates.reshape(candidates.shape[:-2] + (-1,)), k)[1]
  rows = best_blocks[..., None] * _BLOCK + jnp.arange(_BLOCK)
  return jnp.take_along_axis(rows.reshape(rows.shape[:-2] + (-1,)), positions,
                             axis=-1).astype(jnp.int32)


def sparse_content_weights(memory: jax.Array, keys: jax.Array, strengths: jax.Array,
                           indices: jax.Array) -> SparseWeights:
  """Content weights renormalised over the selected rows ``indices [H, K]``.

  The gradient flows to the keys, the strengths and the K gathered rows only.
  """
  return weights_of_rows(keys, strengths, indices, memory[indices])


def weights_of_rows(keys: jax.Array, strengths: jax.Array, indices: jax.Array,
                    rows: jax.Array) -> SparseWeights:
  """``sparse_content_weights`` from rows already gathered: ``rows [H, K, W]`` are
  ``memory[indices]``."""
  similarity = cosine_of_rows(keys, rows)
  return SparseWeights(indices, jax.nn.softmax(strengths[:, None] * similarity, axis=-1))


def cosine_of_rows(keys: jax.Array, rows: jax.Array) -> jax.Array:
  """``cos(keys[h], rows[h, k])``: ``[H, K]`` for ``keys [H, W]`` and per-head gathered
  rows ``[H, K, W]``."""
  dots = jnp.einsum('hw,hkw->hk', keys, rows)
  return dots / (_norm(keys)[:, None] * _norm(rows) + _EPS)


def dense_read(memory: jax.Array, weights: jax.Array) -> jax.Array:
  """``Σ_i w_h[i] M_i``: ``[H, W]`` for weights ``[H, N]``."""
  return weights @ memory


def sparse_read(memory: jax.Array, sparse: SparseWeights) -> jax.Array:
  """``Σ_k w_h[k] M[indices_h[k]]``: ``[H, W]``, touching H·K rows."""
  return jnp.einsum('hk,hkw->hw', sparse.weights, memory[sparse.indices])


def densify(sparse: SparseWeights, num_rows: int) -> jax.Array:
  """The ``[H, N]`` dense weighting of a sparse one (repeated rows add up)."""
  heads = jnp.arange(sparse.indices.shape[0])[:, None]
  return jnp.zeros((sparse.indices.shape[0], num_rows), sparse.weights.dtype).at[
      heads, sparse.indices].add(sparse.weights)


def erase_and_write(memory: jax.Array, weights: jax.Array, erase: jax.Array,
                    add: jax.Array) -> jax.Array:
  """The NTM/DNC write ``M ∘ Π_h (1 − w_h e_hᵀ) + Σ_h w_h a_hᵀ``.

  Args:
    memory: ``[N, W]``.
    weights: ``[H, N]`` write weights.
    erase: ``[H, W]`` erase vectors in [0, 1].
    add: ``[H, W]`` add vectors.
  """
  if weights.shape[0] == 1:
    return _erase_and_write_one_head(memory, weights, erase, add)
  keep = jnp.prod(1.0 - weights[:, :, None] * erase[:, None, :], axis=0)   # [N, W]
  return memory * keep + weights.T @ add


@jax.custom_vjp
def _erase_and_write_one_head(memory, weights, erase, add):
  """``erase_and_write`` with one write head (the NTM's and DNC's), whose gradient is
  written out below as matrix-vector products. Autodiff's form reduces N×W products over
  the rows, and on a CPU those reductions were a large share of an NTM step's time."""
  w, e, a = weights[0], erase[0], add[0]
  return memory * (1.0 - w[:, None] * e[None, :]) + w[:, None] * a[None, :]


def _erase_and_write_one_head_forward(memory, weights, erase, add):
  return (_erase_and_write_one_head(memory, weights, erase, add),
          (memory, weights, erase, add))


def _erase_and_write_one_head_backward(residuals, cotangent):
  memory, weights, erase, add = residuals
  w, e, a = weights[0], erase[0], add[0]
  cotangent_memory = cotangent * memory
  return (cotangent * (1.0 - w[:, None] * e[None, :]),
          (cotangent @ a - cotangent_memory @ e)[None],
          -(w @ cotangent_memory)[None],
          (w @ cotangent)[None])


_erase_and_write_one_head.defvjp(_erase_and_write_one_head_forward,
                                 _erase_and_write_one_head_backward)


def sparse_add(memory: jax.Array, indices: jax.Array, weights: jax.Array,
               add: jax.Array) -> jax.Array:
  """``M[indices[j]] += weights[j] · add`` for flat ``indices [J]``, ``weights [J]``,
  ``add [W]``: a scatter of J rows, the memory updated in place under ``jit``."""
  return memory.at[indices].add(weights[:, None] * add[None, :])


def erase_rows(memory: jax.Array, indices: jax.Array) -> jax.Array:
  """Zeroes the rows ``indices`` (SAM erases the least-recently-used row it writes).

  Written as subtracting the rows, not setting them: the gradient of a scatter-set with
  traced indices keeps operand-sized masks per step; a scatter-add keeps nothing.
  Repeated indices must not occur (they would be subtracted twice).
  """
  return memory.at[indices].add(-memory[indices])


# -- SAM's usage: time since a row was last accessed ---------------------------------------

DELTA = 0.005  # a row counts as accessed when a weight on it exceeds δ (SAM paper)


def touch(last_access: jax.Array, indices: jax.Array, weights: jax.Array, time: jax.Array,
          delta: float = DELTA) -> jax.Array:
  """Sets ``last_access[i] = time`` for the rows whose weight exceeds ``delta``.

  ``indices``/``weights`` are any matching shapes (flattened here). The usage U(i) of the
  paper is ``time − last_access[i]``; keeping the access time instead of the age makes an
  update a K-row scatter rather than an N-row increment.
  """
  indices, weights = indices.reshape(-1), jax.lax.stop_gradient(weights).reshape(-1)
  # Rows at or below δ keep their time: scatter a max so duplicates never go backwards.
  stamp = jnp.where(weights > delta, time, jnp.iinfo(jnp.int32).min).astype(last_access.dtype)
  return last_access.at[indices].max(stamp)


def least_recently_used(last_access: jax.Array) -> jax.Array:
  """The row accessed longest ago (the lowest index among ties): a scalar int32."""
  return jnp.argmin(last_access).astype(jnp.int32)


# -- The DNC's dynamic allocation and temporal links ----------------------------------------

def update_usage(usage: jax.Array, write_weights: jax.Array, free_gates: jax.Array,
                 read_weights: jax.Array) -> jax.Array:
  """The DNC's usage ``(u + w^W − u ∘ w^W) ∘ ψ``, ``ψ = Π_h (1 − f_h w^R_h)``.

  Args:
    usage: ``[N]`` in [0, 1].
    write_weights: ``[N]`` the previous step's write weighting (summed over write heads).
    free_gates: ``[R]`` in [0, 1], one per read head.
    read_weights: ``[R, N]`` the previous step's read weightings.
  """
  usage = usage + write_weights - usage * write_weights
  retention = jnp.prod(1.0 - free_gates[:, None] * read_weights, axis=0)
  return usage * retention


def allocation_weights(usage: jax.Array) -> jax.Array:
  """``a[φ_j] = (1 − u[φ_j]) Π_{i<j} u[φ_i]`` over the rows sorted by usage (free first).

  The sort order carries no gradient; the product does (as in the DNC).
  """
  usage = _EPS + (1.0 - _EPS) * usage  # no exact zero, so the cumulative product is exact
  order = jnp.argsort(jax.lax.stop_gradient(usage))
  sorted_usage = usage[order]
  exclusive = jnp.cumprod(jnp.concatenate([jnp.ones((1,), usage.dtype), sorted_usage[:-1]]))
  sorted_allocation = (1.0 - sorted_usage) * exclusive
  return jnp.zeros_like(usage).at[order].set(sorted_allocation)


def update_links(links: jax.Array, precedence: jax.Array,
                 write_weights: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The DNC's temporal link matrix and precedence after a write.

  ``L[i, j] ← (1 − w_i − w_j) L[i, j] + w_i p_j`` (zero diagonal), then
  ``p ← (1 − Σ w) p + w``.

  Args:
    links: ``[N, N]``; ``L[i, j]``: how much row i was written right after row j.
    precedence: ``[N]``.
    write_weights: ``[N]``.
  Returns:
    ``(links, precedence)``.
  """
  w = write_weights
  links = (1.0 - w[:, None] - w[None, :]) * links + w[:, None] * precedence[None, :]
  links = links * (1.0 - jnp.eye(links.shape[0], dtype=links.dtype))
  precedence = (1.0 - jnp.sum(w)) * precedence + w
  return links, precedence


def directional_weights(links: jax.Array, read_weights: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Forward ``L w`` and backward ``Lᵀ w`` weightings, ``[R, N]`` each, for ``[R, N]``."""
  return read_weights @ links.T, read_weights @ links
