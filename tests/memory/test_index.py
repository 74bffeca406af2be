"""SAM's row finders: the exact top-K, and the LSH index's candidates and recall."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memory import addressing
from memory import index as index_lib


def _filled(index, memory):
  return jax.jit(lambda: index.insert(index.init(), memory, jnp.arange(memory.shape[0])))()


def test_exact_index_is_the_top_k_by_cosine():
  memory = jax.random.normal(jax.random.PRNGKey(0), (50, 8))
  keys = jax.random.normal(jax.random.PRNGKey(1), (3, 8))
  index = index_lib.exact()
  rows = index.query(index.init(), memory, keys, 4)
  similarity = np.asarray(addressing.cosine_similarity(memory, keys))
  for h in range(3):
    assert set(np.asarray(rows[h]).tolist()) == set(np.argsort(-similarity[h])[:4].tolist())


def test_lsh_finds_the_row_a_noisy_key_came_from():
  num_rows = 2048
  memory = jax.random.normal(jax.random.PRNGKey(0), (num_rows, 32))
  index = index_lib.lsh(num_rows=num_rows, word_size=32)
  state = _filled(index, memory)
  keys = memory[:128] + 0.3 * jax.random.normal(jax.random.PRNGKey(1), (128, 32))
  rows = jax.jit(index.query, static_argnums=3)(state, memory, keys, 4)
  exact = addressing.exact_top_k(memory, keys, 4)
  assert float(index_lib.recall(rows[:, :1], exact[:, :1])) >= 0.9
  assert 0.3 <= float(index_lib.recall(rows, exact)) < 1.0   # approximate, not exact
  assert np.all((np.asarray(rows) >= 0) & (np.asarray(rows) < num_rows))


def test_lsh_only_knows_rows_that_were_inserted():
  memory = jax.random.normal(jax.random.PRNGKey(0), (64, 8))
  index = index_lib.lsh(num_rows=64, word_size=8, num_tables=2, bits=1, bucket_size=64)
  state = jax.jit(index.insert)(index.init(), memory, jnp.array([5, 9]))
  query = jax.jit(index.query, static_argnums=3)  # eager, it compiles op by op
  rows = query(state, memory, memory[jnp.array([5, 9])], 1)
  np.testing.assert_array_equal(rows[:, 0], [5, 9])
  # A key whose rows were never inserted falls back to row 0, a real row.
  empty = query(index.init(), memory, memory[:1], 2)
  np.testing.assert_array_equal(empty, [[0, 0]])


def test_full_buckets_drop_their_oldest_entry():
  memory = jnp.ones((8, 4))                       # every row hashes to one bucket
  index = index_lib.lsh(num_rows=8, word_size=4, num_tables=1, bits=2, bucket_size=3)
  state = jax.jit(index.insert)(index.init(), memory, jnp.arange(8))
  bucket = np.asarray(state.table[0])[np.asarray(state.cursor[0]) > 0][0]
  assert sorted(bucket.tolist()) == [5, 6, 7]


@pytest.mark.parametrize('field', ['num_tables', 'bits', 'bucket_size', 'probes'])
def test_lsh_rejects_bad_sizes(field):
  with pytest.raises(ValueError, match=field):
    index_lib.lsh(num_rows=16, word_size=4, **{field: 0})


@pytest.mark.parametrize('probes', [pytest.param(1, marks=pytest.mark.slow), 2, 3])
def test_lsh_query_is_the_top_k_distinct_rows_of_its_probed_buckets(probes):
  num_rows, num_tables, bits = 64, 4, 3
  memory = jax.random.normal(jax.random.PRNGKey(0), (num_rows, 8))
  index = index_lib.lsh(num_rows=num_rows, word_size=8, num_tables=num_tables, bits=bits,
                        bucket_size=64, probes=probes)
  # Every row written twice, and again in a batch with repeats: each bucket keeps one copy.
  state = _filled(index, memory)
  state = jax.jit(index.insert)(state, memory, jnp.concatenate([jnp.arange(num_rows)] * 2))
  # Rows 0-15 change and are written again: their old entries stay behind, stale, so a
  # query may meet a row twice in one table; it must still return distinct rows.
  memory = memory.at[:16].set(jax.random.normal(jax.random.PRNGKey(2), (16, 8)))
  state = jax.jit(index.insert)(state, memory, jnp.arange(16))
  table = np.asarray(state.table)
  for entries in table.reshape(-1, table.shape[-1]):
    kept = entries[entries >= 0]
    assert len(kept) == len(set(kept.tolist()))
  keys = jax.random.normal(jax.random.PRNGKey(1), (5, 8))
  rows = np.asarray(jax.jit(index.query, static_argnums=3)(state, memory, keys, 6))
  similarity = np.asarray(addressing.cosine_similarity(memory, keys))
  # The index's own hyperplanes; the probed buckets, worked out one key at a time.
  planes = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (num_tables, bits, 8)))
  for h in range(5):
    candidates = set()
    for t in range(num_tables):
      projection = planes[t] @ np.asarray(keys[h])
      own = int(sum(2 ** b for b in range(bits) if projection[b] > 0))
      flips = np.argsort(np.abs(projection))[:probes - 1]
      for bucket in [own] + [own ^ 2 ** int(b) for b in flips]:
        candidates |= {int(r) for r in table[t, bucket] if r >= 0}
    expected = sorted(candidates, key=lambda r: -similarity[h, r])[:6]
    assert len(set(rows[h].tolist())) == 6
    assert set(rows[h].tolist()) == set(expected)


def test_lsh_rejects_more_probes_than_buckets_one_flip_away():
  with pytest.raises(ValueError, match='probes must be at most bits \\+ 1 = 3'):
    index_lib.lsh(num_rows=16, word_size=4, bits=2, probes=4)


def test_lsh_default_query_grows_as_the_cube_root_of_the_rows():
  # A query scores tables · probes · bucket_size rows: 16× the rows, ≈ 16^⅓ the bucket.
  (_, small), (_, large) = index_lib.lsh_sizes(2 ** 16), index_lib.lsh_sizes(2 ** 20)
  assert large / small <= 16 ** (1 / 3)
  for num_rows in (2 ** 16, 2 ** 20):   # room for every row, twice over, in each table
    bits, size = index_lib.lsh_sizes(num_rows)
    assert 2 ** bits * size >= 2 * num_rows


def test_exact_index_with_kept_norms_equals_the_stateless_one():
  cached, stateless = index_lib.exact(num_rows=64), index_lib.exact()
  memory, norms = jnp.zeros((64, 8)), cached.init()
  insert = jax.jit(cached.insert)
  for step in range(5):
    rows = jax.random.randint(jax.random.PRNGKey(step), (6,), 0, 64)
    memory = memory.at[rows].set(jax.random.normal(jax.random.PRNGKey(10 + step), (6, 8)))
    norms = insert(norms, memory, rows)
    np.testing.assert_allclose(norms, addressing.row_norms(memory), rtol=1e-6)
    keys = jax.random.normal(jax.random.PRNGKey(20 + step), (3, 8))
    np.testing.assert_array_equal(cached.query(norms, memory, keys, 4),
                                  stateless.query((), memory, keys, 4))


def test_lsh_probes_default_to_three_or_every_bucket_one_flip_away():
  assert [index_lib.default_probes(bits) for bits in (1, 2, 3, 11)] == [2, 3, 3, 3]
  memory = jax.random.normal(jax.random.PRNGKey(0), (256, 8))
  keys = memory[:16] + 0.5 * jax.random.normal(jax.random.PRNGKey(1), (16, 8))
  found = {}
  for probes in (None, 1, 3):
    index = index_lib.lsh(num_rows=256, word_size=8, probes=probes)
    found[probes] = np.asarray(jax.jit(index.query, static_argnums=3)(
        _filled(index, memory), memory, keys, 4))
  np.testing.assert_array_equal(found[None], found[3])
  assert not np.array_equal(found[1], found[3])   # the probes do change what is found
