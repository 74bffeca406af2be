"""SAM's blocked LRU picks exactly what an argmin over access times picks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memory import addressing
from memory import lru


def test_fresh_memory_starts_at_row_zero():
  state = lru.create(10)
  assert int(lru.oldest(state)) == 0
  np.testing.assert_array_equal(lru.times(state, 10), np.zeros(10))


@pytest.mark.parametrize('num_rows', [12, 37, 64])   # 37: a partly filled last block
def test_matches_argmin_over_access_times_on_random_accesses(num_rows):
  per_step = 5
  touch = jax.jit(lru.touch)
  state = lru.create(num_rows)
  last_access = jnp.zeros((num_rows,), jnp.int32)
  rng = np.random.default_rng(num_rows)
  for time in range(1, 80):
    rows = jnp.asarray(rng.integers(0, num_rows, per_step), jnp.int32)  # repeats happen
    weights = jnp.asarray(rng.uniform(0, 0.02, per_step), jnp.float32)  # some below δ
    state = touch(state, rows, weights > addressing.DELTA)
    last_access = addressing.touch(last_access, rows, weights, jnp.int32(time))
    np.testing.assert_array_equal(lru.times(state, num_rows), last_access)
    assert int(lru.oldest(state)) == int(addressing.least_recently_used(last_access))


def test_block_minima_stay_the_minima_of_their_blocks():
  state = lru.create(50)
  state = lru.touch(state, jnp.arange(0, 50, 3), jnp.ones(17, bool))
  np.testing.assert_array_equal(state.block_min, state.last_access.min(axis=1))
  assert lru.block_size(50) ** 2 >= 50
