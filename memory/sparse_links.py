"""The SDNC's sparse temporal link matrix (Rae et al. 2016, supplementary "SDNC").

The DNC's link matrix ``L[i, j]`` (how much row i was written right after row j) is N×N
and dense. Here it is kept twice, sparsely, with at most ``K_L`` entries per row:

  pred[i]  row i of L: i's predecessors j and L[i, j]  (followed by backward reads)
  succ[j]  column j of L: j's successors i and L[i, j] (followed by forward reads)

and the precedence ``p`` (how much each row was the last written) keeps its ``K_L``
largest entries. A step with sparse write weights w (on the rows S) applies the DNC's
update to every entry the two stores hold that it changes,

  L[i, j] ← (1 − w_i − w_j) L[i, j] + w_i p_j   (i ≠ j),   p ← (1 − Σ w) p + w,

by recomputing only the touched rows: pred rows of S and of the rows that list a row of
S as a successor, succ rows of S, of p's support and of the rows that list a row of S as
a predecessor; each keeps its ``K_L`` largest entries. That is O(|S|·K_L) rows of K_L
entries per step, independent of N. Where a row's cap dropped an entry the other store
still holds, the two stores can differ slightly: the approximation of the paper's
sparse links (with ``K_L ≥`` the entries a row ever gets, both equal the dense L).

Reads follow the stores from the previous step's sparse read weights and keep the K
largest results: forward f_i = Σ_j L[i, j] w_j (succ), backward b_j = Σ_i L[i, j] w_i
(pred). Values are differentiable; which rows are kept is not.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp


class SparseLinks(NamedTuple):
  pred_rows: jax.Array  # [N, K_L] int32: row i's predecessors j
  pred_vals: jax.Array  # [N, K_L]: L[i, j]
  succ_rows: jax.Array  # [N, K_L] int32: row j's successors i
  succ_vals: jax.Array  # [N, K_L]: L[i, j]
  prec_rows: jax.Array  # [K_L] int32: the rows of the precedence's largest entries
  prec_vals: jax.Array  # [K_L]


def create(num_rows: int, k_l: int) -> SparseLinks:
  """No links and no precedence (empty slots are row 0 with value 0)."""
  if k_l < 1:
    raise ValueError(f'k_l (link entries per row) must be at least 1, got {k_l}')
  rows = jnp.zeros((num_rows, k_l), jnp.int32)
  vals = jnp.zeros((num_rows, k_l), jnp.float32)
  return SparseLinks(rows, vals, rows, vals, jnp.zeros((k_l,), jnp.int32),
                     jnp.zeros((k_l,), jnp.float32))


_NO_ROW = jnp.iinfo(jnp.int32).max  # past every row: unused slots sort last


def unique_sum(rows: jax.Array, vals: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The distinct ``rows [M]`` in ascending order with their ``vals`` summed, padded to M
  with ``_NO_ROW`` (value 0). A sort and a segment sum: O(M log M) time, O(M) memory."""
  m = rows.shape[0]
  order = jnp.argsort(rows)
  sorted_rows, sorted_vals = rows[order], vals[order]
  first = jnp.concatenate([jnp.ones((1,), bool), sorted_rows[1:] != sorted_rows[:-1]])
  segment = jnp.cumsum(first) - 1
  sums = jax.ops.segment_sum(sorted_vals, segment, num_segments=m)
  distinct = jnp.full((m,), _NO_ROW, rows.dtype).at[segment].set(sorted_rows)
  return distinct, sums


def lookup(distinct: jax.Array, sums: jax.Array, rows: jax.Array) -> jax.Array:
  """The value ``unique_sum`` gave each of ``rows`` (any shape; 0 where absent)."""
  at = jnp.minimum(jnp.searchsorted(distinct, rows), distinct.shape[0] - 1)
  return jnp.where(distinct[at] == rows, sums[at], 0.0)


_SMALL = 64  # up to this many candidates, merge by comparing every pair (no sort)


def _merge_top_k_by_pairs(rows, vals, k):
  """``_merge_top_k`` for a few candidates: an M×M equality matrix, no sort (sorting
  many small arrays is slow on CPU)."""
  same = rows[:, None] == rows[None, :]
  sums = same.astype(vals.dtype) @ vals
  first = ~jnp.any(same & jnp.tril(jnp.ones(same.shape, bool), -1), axis=1)
  if k > rows.shape[0]:
    pad = (0, k - rows.shape[0])
    rows, sums, first = jnp.pad(rows, pad), jnp.pad(sums, pad), jnp.pad(first, pad)
  _, picked = jax.lax.top_k(jnp.where(first, jax.lax.stop_gradient(sums), -1.0), k)
  keep = first[picked]
  return jnp.where(keep, rows[picked], 0), jnp.where(keep, sums[picked], 0.0)


def _merge_top_k(rows, vals, k):
  if rows.shape[0] <= _SMALL:
    return _merge_top_k_by_pairs(rows, vals, k)
  distinct, sums = unique_sum(rows, vals)
  used = distinct != _NO_ROW
  if k > rows.shape[0]:  # pad with empty slots so top_k has k candidates
    pad = (0, k - rows.shape[0])
    distinct, sums, used = jnp.pad(distinct, pad), jnp.pad(sums, pad), jnp.pad(used, pad)
  _, picked = jax.lax.top_k(jnp.where(used, jax.lax.stop_gradient(sums), -1.0), k)
  keep = used[picked]
  return jnp.where(keep, distinct[picked], 0), jnp.where(keep, sums[picked], 0.0)


def merge_top_k(rows: jax.Array, vals: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  """Sums the values of repeated rows and keeps the ``k`` largest sums.

  Args:
    rows: ``[..., M]`` int32 candidate rows (repeats allowed).
    vals: ``[..., M]`` their non-negative values.
    k: how many to keep (``k`` may exceed the distinct rows: the rest are empty slots,
      row 0 with value 0).

  Returns:
    ``(rows [..., k], vals [..., k])``, largest first.
  """
  merge = functools.partial(_merge_top_k, k=k)
  for _ in range(rows.ndim - 1):
    merge = jax.vmap(merge)
  return merge(rows, vals)


def _write_rows(store, touched, old, new):
  """``store`` with rows ``touched`` (repeats allowed, each with the same ``new``) set to
  ``new``, written as a scatter-add of ``new − old`` at each row's first occurrence.

  Not ``.at[].set``: its forward-mode derivative for indices that may repeat scatters
  row ids over a whole [N, K_L] array per step (O(N) work and copies in the compiled
  loop); a scatter-add's derivative is a scatter-add of the tangents.
  """
  same = touched[:, None] == touched[None, :]
  first = ~jnp.any(same & jnp.tril(jnp.ones(same.shape, bool), -1), axis=1)
  return store.at[touched].add(jnp.where(first[:, None], new - old, 0.0))


def update(links: SparseLinks, written: jax.Array, weights: jax.Array,
           total_weight: jax.Array | None = None) -> SparseLinks:
  """One step of the link and precedence update for write weights on ``written``.

  Args:
    links: the state before this step's write.
    written: ``[J]`` int32 rows written (repeats allowed: their weights add up).
    weights: ``[J]`` write weights.
    total_weight: Σ w for the precedence's decay, where ``weights`` leave out some rows
      written (default: their sum).
  """
  k_l = links.prec_rows.shape[0]
  distinct, summed = unique_sum(written, weights)
  weight_of = functools.partial(lookup, distinct, summed)
  once = distinct != _NO_ROW
  written_once = jnp.where(once, distinct, 0)      # unused slots: row 0, weight 0
  weights_once = jnp.where(once, summed, 0.0)

  # Every gather of a store feeds that store's one scatter (through the merge): XLA then
  # updates the [N, K_L] stores in place, where a read the scatter did not depend on made
  # it copy them on every step.
  succ_first = (links.succ_rows[written_once], links.succ_vals[written_once])   # [J, K_L]

  # pred rows: the written rows and the rows that list a written row as predecessor.
  touched = jnp.concatenate([written_once, succ_first[0].reshape(-1)])
  old_rows, old_vals = links.pred_rows[touched], links.pred_vals[touched]   # [R, K_L]
  pred_of_written = old_rows[:written_once.shape[0]]
  w_row = weight_of(touched)                                                # [R]
  decayed = old_vals * (1.0 - w_row[:, None] - weight_of(old_rows))
  new_rows = jnp.broadcast_to(links.prec_rows, old_rows.shape)
  new_vals = w_row[:, None] * jnp.where(new_rows == touched[:, None], 0.0, links.prec_vals)
  rows, vals = merge_top_k(jnp.concatenate([old_rows, new_rows], -1),
                           jnp.concatenate([decayed, new_vals], -1), k_l)
  pred_rows = links.pred_rows.at[touched].set(rows)
  pred_vals = _write_rows(links.pred_vals, touched, old_vals, vals)

  # succ rows: the written rows, the precedence's rows and the rows that list a written
  # row as successor.
  rest = jnp.concatenate([links.prec_rows, pred_of_written.reshape(-1)])
  touched = jnp.concatenate([written_once, rest])
  old_rows = jnp.concatenate([succ_first[0], links.succ_rows[rest]])
  old_vals = jnp.concatenate([succ_first[1], links.succ_vals[rest]])
  w_col = weight_of(touched)
  decayed = old_vals * (1.0 - w_col[:, None] - weight_of(old_rows))
  p_col = lookup(*unique_sum(links.prec_rows, links.prec_vals), touched)   # [R]
  new_rows = jnp.broadcast_to(written_once, (touched.shape[0],) + written_once.shape)
  new_vals = p_col[:, None] * jnp.where(new_rows == touched[:, None], 0.0, weights_once)
  rows, vals = merge_top_k(jnp.concatenate([old_rows, new_rows], -1),
                           jnp.concatenate([decayed, new_vals], -1), k_l)
  succ_rows = links.succ_rows.at[touched].set(rows)
  succ_vals = _write_rows(links.succ_vals, touched, old_vals, vals)

  prec_rows, prec_vals = merge_top_k(
      jnp.concatenate([links.prec_rows, written_once]),
      jnp.concatenate([(1.0 - (jnp.sum(weights) if total_weight is None else total_weight))
                       * links.prec_vals, weights_once]), k_l)
  return SparseLinks(pred_rows, pred_vals, succ_rows, succ_vals, prec_rows, prec_vals)


def _follow(store_rows, store_vals, read_rows, read_weights, k):
  rows = store_rows[read_rows]                                   # [H, R, K_L]
  vals = store_vals[read_rows] * read_weights[..., None]
  return merge_top_k(rows.reshape(rows.shape[0], -1), vals.reshape(vals.shape[0], -1), k)


def forward_weights(links: SparseLinks, read_rows: jax.Array, read_weights: jax.Array,
                    k: int) -> tuple[jax.Array, jax.Array]:
  """f = L w for each head's sparse read weights ``(read_rows, read_weights) [H, R]``:
  the ``k`` largest as ``(rows [H, k], weights [H, k])``."""
  return _follow(links.succ_rows, links.succ_vals, read_rows, read_weights, k)


def backward_weights(links: SparseLinks, read_rows: jax.Array, read_weights: jax.Array,
                     k: int) -> tuple[jax.Array, jax.Array]:
  """b = Lᵀ w, as ``forward_weights``."""
  return _follow(links.pred_rows, links.pred_vals, read_rows, read_weights, k)


def dense(links: SparseLinks, num_rows: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``(L from pred [N, N], L from succ [N, N], p [N])``, for tests and inspection."""
  rows = jnp.arange(num_rows)[:, None]
  from_pred = jnp.zeros((num_rows, num_rows)).at[rows, links.pred_rows].add(links.pred_vals)
  from_succ = jnp.zeros((num_rows, num_rows)).at[links.succ_rows, rows].add(links.succ_vals)
  p = jnp.zeros((num_rows,)).at[links.prec_rows].add(links.prec_vals)
  return from_pred, from_succ, p
