"""How SAM finds the K rows most similar to a key: exact, or an approximate LSH index.

An ``Index`` is pure functions over ONE memory (the model vmaps the batch)::

  init() -> state
  insert(state, memory, rows [M]) -> state      after rows were written
  query(state, memory, keys [H, W], k) -> [H, K] int32 rows

``exact()`` keeps no state and scores every row: one matmul and ``lax.top_k``, O(N·W)
per query. ``lsh(...)`` is sub-linear: random-hyperplane locality-sensitive hashing
(SimHash) into ``num_tables`` tables of ``2**bits`` buckets, each a ring of
``bucket_size`` row ids. A written row is appended to its bucket in every table (the
oldest entry of a full bucket is dropped, an older copy of the row in that bucket is
cleared). A query probes ``probes`` buckets per table — its own and, multi-probe style,
the ones that differ from it in the bits whose hyperplanes the key lies closest to (where
a near neighbour most likely fell on the other side) — scores only the rows there,
O(num_tables · probes · bucket_size · W), and returns the K best distinct rows of those.
Rows that moved to another bucket leave stale entries behind; they are real rows, scored
on their current contents, so they cost time, never correctness.

The default sizes (``lsh_sizes``) take ``bits ≈ ⅔ log2 N`` and ``bucket_size ≈ 2 N /
2**bits`` (at least 32), so a query costs O(N^⅓) and each table holds 2N ids (more below
about 4K rows, where the 32-entry floor applies); the probes of the
neighbouring buckets buy back the recall that the finer hashing loses. Recall against
the exact top-K depends on the data; ``recall`` measures it.

The selection is a discrete choice: queries read the memory under ``stop_gradient``.
"""

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from memory import addressing


class Index(NamedTuple):
  init: Callable[[], Any]
  insert: Callable[[Any, jax.Array, jax.Array], Any]
  query: Callable[[Any, jax.Array, jax.Array, int], jax.Array]


def exact(num_rows: int | None = None) -> Index:
  """Exact top-K by cosine similarity over every row.

  With ``num_rows``, the state keeps every row's norm (``[N]``, zero for a fresh memory)
  and ``insert`` refreshes those of the rows written, so a query reads the memory once
  (the dot products) instead of twice; ``insert`` must then see every row that changed.
  """
  if num_rows is None:
    return Index(init=lambda: (), insert=lambda state, memory, rows: state,
                 query=lambda state, memory, keys, k: addressing.exact_top_k(memory, keys, k))

  def insert(norms, memory, rows):
    return norms.at[rows].set(addressing.row_norms(jax.lax.stop_gradient(memory[rows])))

  def query(norms, memory, keys, k):
    return addressing.exact_top_k(memory, keys, k, memory_norms=norms)

  return Index(init=lambda: addressing.row_norms(jnp.zeros((num_rows, 1))), insert=insert,
               query=query)


class LSHState(NamedTuple):
  table: jax.Array   # [L, 2**bits, bucket_size] int32 row ids, -1: empty
  cursor: jax.Array  # [L, 2**bits] int32: where each bucket's next entry goes (mod size)


# Buckets probed per table. Each probe adds a bucket of candidates to score and some
# recall; scripts/bench_memory.py records the trade-off (``lsh_recall``'s ``by_probes``).
DEFAULT_PROBES = 3


def default_probes(bits: int) -> int:
  """``DEFAULT_PROBES``, or ``bits + 1`` (every bucket one flip away) where that is fewer."""
  return min(DEFAULT_PROBES, bits + 1)


def lsh_sizes(num_rows: int) -> tuple[int, int]:
  """Default ``(bits, bucket_size)`` for N rows: about N^⅔ buckets of 2 N^⅓ entries."""
  bits = max(1, math.ceil(2 * math.log2(max(num_rows, 2)) / 3))
  return bits, max(32, 2 * -(-num_rows // 2 ** bits))


def lsh(*, num_rows: int, word_size: int, num_tables: int = 8, bits: int | None = None,
        bucket_size: int | None = None, probes: int | None = None, seed: int = 0) -> Index:
  """SimHash tables over ``[num_rows, word_size]`` memories (see the module docstring);
  ``probes`` defaults to ``default_probes(bits)``."""
  default_bits, default_size = lsh_sizes(num_rows)
  bits = default_bits if bits is None else bits
  bucket_size = default_size if bucket_size is None else bucket_size
  if probes is None and isinstance(bits, int):
    probes = default_probes(bits)
  for name, value in (('num_tables', num_tables), ('bits', bits),
                      ('bucket_size', bucket_size), ('probes', probes)):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f'lsh: {name} must be a positive integer, got {value!r}')
  if probes > bits + 1:
    raise ValueError(f'lsh: probes must be at most bits + 1 = {bits + 1} (the own bucket '
                     f'and one per flipped bit), got {probes}')
  planes = jax.random.normal(jax.random.PRNGKey(seed), (num_tables, bits, word_size))
  powers = 2 ** jnp.arange(bits, dtype=jnp.int32)

  def project(vectors):  # [M, W] -> [L, M, bits] signed distances to the hyperplanes
    return jnp.einsum('lbw,mw->lmb', planes.astype(vectors.dtype), vectors)

  def codes(projections):  # [L, M, bits] -> [L, M] bucket of each vector in each table
    return jnp.sum((projections > 0) * powers, axis=-1).astype(jnp.int32)

  def probed(projections):  # [L, H, bits] -> [L, H, probes]: own bucket, then flips
    own = codes(projections)
    if probes == 1:
      return own[..., None]
    _, closest = jax.lax.top_k(-jnp.abs(projections), probes - 1)   # least certain bits
    flipped = own[..., None] ^ powers[closest]
    return jnp.concatenate([own[..., None], flipped], axis=-1)

  def init():
    return LSHState(table=jnp.full((num_tables, 2 ** bits, bucket_size), -1, jnp.int32),
                    cursor=jnp.zeros((num_tables, 2 ** bits), jnp.int32))

  def insert(state, memory, rows):
    buckets = codes(project(jax.lax.stop_gradient(memory[rows])))   # [L, M]
    tables = jnp.arange(num_tables)

    def one(i, state):  # rows go in one at a time: two may share a bucket
      bucket = buckets[:, i]
      # A row is in a bucket at most once: an older copy is cleared before the append.
      entries = state.table[tables, bucket]                              # [L, C]
      entries = jnp.where(entries == rows[i], -1, entries)
      slot = state.cursor[tables, bucket] % bucket_size
      entries = entries.at[tables, slot].set(rows[i])
      return LSHState(state.table.at[tables, bucket].set(entries),
                      state.cursor.at[tables, bucket].add(1))

    return jax.lax.fori_loop(0, rows.shape[0], one, state)

  def query(state, memory, keys, k):
    memory, keys = jax.lax.stop_gradient(memory), jax.lax.stop_gradient(keys)
    buckets = probed(project(keys))                                    # [L, H, P]
    candidates = state.table[jnp.arange(num_tables)[:, None, None], buckets]  # [L, H, P, C]
    candidates = jnp.moveaxis(candidates, 1, 0).reshape(keys.shape[0], -1)  # [H, L·P·C]
    safe = jnp.maximum(candidates, 0)
    rows = memory[safe]                                             # [H, L·P·C, W]
    similarity = jnp.where(candidates >= 0, addressing.cosine_of_rows(keys, rows), -jnp.inf)
    # A row appears at most once per probed bucket (``insert``), so the best k·L·P entries
    # hold the k best distinct rows; removing repeats among those few replaces a sort of
    # every candidate (the query's largest cost at 1M rows).
    best, positions = jax.lax.top_k(similarity,
                                    min(k * num_tables * probes, similarity.shape[-1]))
    picked = jnp.take_along_axis(safe, positions, axis=-1)        # [H, k·L·P]
    same = picked[:, :, None] == picked[:, None, :]
    repeat = jnp.any(same & jnp.tril(jnp.ones(same.shape[1:], bool), -1), axis=-1)
    best = jnp.where(repeat, -jnp.inf, best)
    best, which = jax.lax.top_k(best, k)
    picked = jnp.take_along_axis(picked, which, axis=-1)
    # Too few candidates (a fresh memory): fill with row 0, a real row like any other.
    return jnp.where(jnp.isfinite(best), picked, 0).astype(jnp.int32)

  return Index(init=init, insert=insert, query=query)


def recall(approximate: jax.Array, exact_rows: jax.Array) -> jax.Array:
  """The fraction of the exact top-K rows ``[H, K]`` the approximate ones ``[H, K]`` hold."""
  hits = jnp.any(approximate[:, :, None] == exact_rows[:, None, :], axis=1)
  return jnp.mean(hits)
