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
a predecessor. Only the rows that gain entries (pred rows of S, succ rows of p's
support) merge old and new entries and keep their ``K_L`` largest; the others only
rescale the entries they hold. That is O(|S|·K_L) rows of K_L entries per step,
independent of N. Where a row's cap dropped an entry the other store
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
  # A few distinct rows (the rows a step writes): compare with each, which is exact and
  # far cheaper on a CPU than the default method's sequential while loop.
  method = 'compare_all' if distinct.shape[0] <= _SMALL else 'scan'
  at = jnp.minimum(jnp.searchsorted(distinct, rows, method=method), distinct.shape[0] - 1)
  return jnp.where(distinct[at] == rows, sums[at], 0.0)


_SMALL = 64  # up to this many candidates, merge by comparing every pair (no sort)


def _keep_top_k(rows, sums, usable, k):
  """The ``k`` largest ``sums`` among the ``usable`` candidates, as ``(rows, sums)``; slots
  beyond the usable ones are empty (row 0, value 0). Equal sums go to the earlier one."""
  if k > rows.shape[0]:  # pad with empty slots so top_k has k candidates
    pad = (0, k - rows.shape[0])
    rows, sums, usable = jnp.pad(rows, pad), jnp.pad(sums, pad), jnp.pad(usable, pad)
  _, picked = jax.lax.top_k(jnp.where(usable, jax.lax.stop_gradient(sums), -1.0), k)
  keep = usable[picked]
  return jnp.where(keep, rows[picked], 0), jnp.where(keep, sums[picked], 0.0)


def _merge_top_k_by_pairs(rows, vals, k):
  """``_merge_top_k`` for a few candidates: an M×M equality matrix, no sort (sorting
  many small arrays is slow on CPU)."""
  same = rows[:, None] == rows[None, :]
  first = ~jnp.any(same & jnp.tril(jnp.ones(same.shape, bool), -1), axis=1)
  return _keep_top_k(rows, same.astype(vals.dtype) @ vals, first, k)


def _merge_top_k(rows, vals, k):
  if rows.shape[0] <= _SMALL:
    return _merge_top_k_by_pairs(rows, vals, k)
  distinct, sums = unique_sum(rows, vals)
  return _keep_top_k(distinct, sums, distinct != _NO_ROW, k)


def _merge_top_k_dense(rows, vals, k, num_rows):
  """``_merge_top_k`` through an ``[num_rows]`` array: a scatter-add of the candidates and
  a top-k over every row, no sort. Ties and empty slots as the sort's: among equal sums
  the lower row, rows absent from the candidates never picked."""
  sums = jnp.zeros((num_rows,), vals.dtype).at[rows].add(vals)
  present = jnp.zeros((num_rows,), bool).at[rows].set(True)
  return _keep_top_k(jnp.arange(num_rows, dtype=rows.dtype), sums, present, k)


DENSE_MERGE_RATIO = 2  # merge through a dense array when N <= this × the candidates


def merge_top_k(rows: jax.Array, vals: jax.Array, k: int,
                num_rows: int | None = None) -> tuple[jax.Array, jax.Array]:
  """Sums the values of repeated rows and keeps the ``k`` largest sums.

  Args:
    rows: ``[..., M]`` int32 candidate rows (repeats allowed).
    vals: ``[..., M]`` their non-negative values.
    k: how many to keep (``k`` may exceed the distinct rows: the rest are empty slots,
      row 0 with value 0).
    num_rows: the rows lie in ``[0, num_rows)``. Where that is at most
      ``DENSE_MERGE_RATIO × M`` (a small memory), the sums go through a dense array of
      the rows instead of a sort: the same rows and sums as the sort (equal sums go to
      the lower row; the few-candidate path orders them by first occurrence instead),
      and sorting a few dozen candidates per head was the largest cost of an SDNC step
      on a CPU at N = 128 (a profile of its compiled step). That array is at most
      ``DENSE_MERGE_RATIO × M`` long, so the cost still does not grow with N; larger
      memories keep the sort.

  Returns:
    ``(rows [..., k], vals [..., k])``, largest first.
  """
  if num_rows is not None and num_rows <= DENSE_MERGE_RATIO * rows.shape[-1]:
    merge = functools.partial(_merge_top_k_dense, k=k, num_rows=num_rows)
  else:
    merge = functools.partial(_merge_top_k, k=k)
  for _ in range(rows.ndim - 1):
    merge = jax.vmap(merge)
  return merge(rows, vals)


def merge_into(old_rows: jax.Array, old_vals: jax.Array, new_rows: jax.Array,
               new_vals: jax.Array, new_valid: jax.Array,
               k: int) -> tuple[jax.Array, jax.Array]:
  """``merge_top_k`` of a store row's entries and new entries, each set free of repeats.

  Args:
    old_rows, old_vals: ``[..., A]`` a store row's entries (distinct rows, but for empty
      slots: value 0).
    new_rows, new_vals: ``[..., C]`` new entries, distinct where ``new_valid``.
    new_valid: ``[..., C]`` bool; an invalid entry takes part with its value but matches
      nothing (padding).
    k: how many to keep.

  Returns:
    ``(rows [..., k], vals [..., k])``, largest first: each new entry's value plus that of
    the old entry of its row, and the old entries no new one matched. Comparing A × C
    pairs instead of (A + C)² (the link update's largest cost: 57² pairs per touched row).
  """
  match = (old_rows[..., :, None] == new_rows[..., None, :]) & new_valid[..., None, :]
  new_sums = new_vals + jnp.sum(jnp.where(match, old_vals[..., :, None], 0.0), axis=-2)
  unmatched = ~jnp.any(match, axis=-1)
  rows = jnp.concatenate([old_rows, new_rows], -1)
  vals = jnp.concatenate([jnp.where(unmatched, old_vals, 0.0), new_sums], -1)
  usable = jnp.concatenate([unmatched, jnp.ones_like(new_valid)], -1)
  if k > rows.shape[-1]:
    pad = [(0, 0)] * (rows.ndim - 1) + [(0, k - rows.shape[-1])]
    rows, vals, usable = jnp.pad(rows, pad), jnp.pad(vals, pad), jnp.pad(usable, pad)
  _, picked = jax.lax.top_k(jnp.where(usable, jax.lax.stop_gradient(vals), -1.0), k)
  keep = jnp.take_along_axis(usable, picked, -1)
  return (jnp.where(keep, jnp.take_along_axis(rows, picked, -1), 0),
          jnp.where(keep, jnp.take_along_axis(vals, picked, -1), 0.0))


def _write_rows(stores, touched, old, new):
  """``stores`` (a tuple of [N, K_L] arrays) with rows ``touched`` (repeats allowed; the
  first occurrence's ``new`` wins) set to ``new``, written as a scatter-add of
  ``new − old`` at each row's first occurrence.

  Not ``.at[].set``: its forward-mode derivative for indices that may repeat scatters
  row ids over a whole [N, K_L] array per step (O(N) work and copies in the compiled
  loop); a scatter-add's derivative is a scatter-add of the tangents.
  """
  same = touched[:, None] == touched[None, :]
  first = ~jnp.any(same & jnp.tril(jnp.ones(same.shape, bool), -1), axis=1)
  return tuple(store.at[touched].add(jnp.where(first[:, None], n - o, jnp.zeros_like(n)))
               for store, o, n in zip(stores, old, new))


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

  # Only rows that gain entries are merged (a top-k of their old and new entries): pred
  # rows of written rows (new predecessors w_i p_j) and succ rows of the precedence's rows
  # (new successors). Every other touched row holds an entry whose weight decays, keeps
  # its entries and is rescaled in place; it comes after the merged rows in ``touched``,
  # so that where a row is both, ``_write_rows`` keeps the merged version.
  # Every gather of a store feeds that store's scatter: XLA then updates the [N, K_L]
  # stores in place, where a read the scatter did not depend on made it copy them on
  # every step.
  num_written = written_once.shape[0]
  succ_first = (links.succ_rows[written_once], links.succ_vals[written_once])   # [J, K_L]

  # pred rows: the written rows (merged) and the rows that list a written row as
  # predecessor (rescaled).
  touched = jnp.concatenate([written_once, succ_first[0].reshape(-1)])
  old_rows, old_vals = links.pred_rows[touched], links.pred_vals[touched]   # [R, K_L]
  pred_of_written = old_rows[:num_written]
  w_row = weight_of(touched)                                                # [R]
  decayed = old_vals * (1.0 - w_row[:, None] - weight_of(old_rows))
  new_rows = jnp.broadcast_to(links.prec_rows, pred_of_written.shape)
  new_vals = w_row[:num_written, None] * jnp.where(
      new_rows == written_once[:, None], 0.0, links.prec_vals)
  rows, vals = merge_into(pred_of_written, decayed[:num_written], new_rows, new_vals,
                          jnp.broadcast_to(links.prec_vals > 0, new_rows.shape), k_l)
  pred_rows, pred_vals = _write_rows(
      (links.pred_rows, links.pred_vals), touched, (old_rows, old_vals),
      (jnp.concatenate([rows, old_rows[num_written:]]),
       jnp.concatenate([vals, decayed[num_written:]])))

  # succ rows: the precedence's rows (merged), the written rows and the rows that list a
  # written row as successor (rescaled).
  touched = jnp.concatenate([links.prec_rows, written_once, pred_of_written.reshape(-1)])
  old_rows = jnp.concatenate([links.succ_rows[links.prec_rows], succ_first[0],
                              links.succ_rows[pred_of_written.reshape(-1)]])
  old_vals = jnp.concatenate([links.succ_vals[links.prec_rows], succ_first[1],
                              links.succ_vals[pred_of_written.reshape(-1)]])
  w_col = weight_of(touched)
  decayed = old_vals * (1.0 - w_col[:, None] - weight_of(old_rows))
  p_col = lookup(*unique_sum(links.prec_rows, links.prec_vals), links.prec_rows)   # [K_L]
  new_rows = jnp.broadcast_to(written_once, (k_l, num_written))
  new_vals = p_col[:, None] * jnp.where(
      new_rows == links.prec_rows[:, None], 0.0, weights_once)
  rows, vals = merge_into(old_rows[:k_l], decayed[:k_l], new_rows, new_vals,
                          jnp.broadcast_to(once, new_rows.shape), k_l)
  succ_rows, succ_vals = _write_rows(
      (links.succ_rows, links.succ_vals), touched, (old_rows, old_vals),
      (jnp.concatenate([rows, old_rows[k_l:]]), jnp.concatenate([vals, decayed[k_l:]])))

  prec_rows, prec_vals = merge_top_k(
      jnp.concatenate([links.prec_rows, written_once]),
      jnp.concatenate([(1.0 - (jnp.sum(weights) if total_weight is None else total_weight))
                       * links.prec_vals, weights_once]), k_l)
  return SparseLinks(pred_rows, pred_vals, succ_rows, succ_vals, prec_rows, prec_vals)


def _follow(store_rows, store_vals, read_rows, read_weights, k):
  rows = store_rows[read_rows]                                   # [H, R, K_L]
  vals = store_vals[read_rows] * read_weights[..., None]
  return merge_top_k(rows.reshape(rows.shape[0], -1), vals.reshape(vals.shape[0], -1), k,
                     num_rows=store_rows.shape[0])


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
