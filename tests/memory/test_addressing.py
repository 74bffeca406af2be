"""The shared addressing primitives against their definitions (NTM, DNC and SAM papers)."""

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np

from memory import addressing

N, W = 8, 5

_update_links = jax.jit(addressing.update_links)  # one compile for the loops below


def _memory(key=0, rows=N):
  return jax.random.normal(jax.random.PRNGKey(key), (rows, W))


def _one_hot(i):
  return jax.nn.one_hot(i, N)


def test_oneplus_is_at_least_one():
  assert jnp.all(addressing.oneplus(jnp.array([-50.0, 0.0, 3.0])) >= 1.0)


def test_content_weights_sum_to_one_and_peak_at_the_most_similar_row():
  memory = _memory()
  # Each key is a scaled, slightly perturbed copy of one row: cosine ignores the scale.
  rows = jnp.array([3, 6])
  keys = 2.5 * memory[rows] + 0.05 * jax.random.normal(jax.random.PRNGKey(1), (2, W))
  weights = addressing.content_weights(memory, keys, jnp.array([10.0, 10.0]))
  assert weights.shape == (2, N)
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(jnp.argmax(weights, -1), rows)


def test_content_weights_are_uniform_over_an_empty_memory():
  weights = addressing.content_weights(jnp.zeros((N, W)), jnp.ones((1, W)), jnp.array([5.0]))
  np.testing.assert_allclose(weights, 1.0 / N, rtol=1e-6)


def test_erase_and_write_matches_a_loop():
  keys = jax.random.split(jax.random.PRNGKey(2), 3)
  memory = _memory()
  weights = jax.nn.softmax(jax.random.normal(keys[0], (2, N)), -1)
  erase = jax.nn.sigmoid(jax.random.normal(keys[1], (2, W)))
  add = jax.random.normal(keys[2], (2, W))
  expected = np.array(memory, np.float64)
  for i in range(N):
    for j in range(W):
      keep = np.prod([1.0 - weights[h, i] * erase[h, j] for h in range(2)])
      expected[i, j] = expected[i, j] * keep + sum(weights[h, i] * add[h, j] for h in range(2))
  np.testing.assert_allclose(addressing.erase_and_write(memory, weights, erase, add),
                             expected, rtol=1e-5, atol=1e-6)


def test_one_head_write_has_the_formula_s_values_and_gradients():
  # One write head goes through a hand-written gradient: check it against autodiff of
  # the formula and against finite differences.
  keys = jax.random.split(jax.random.PRNGKey(7), 4)
  args = (_memory(), jax.nn.softmax(jax.random.normal(keys[0], (1, N)), -1),
          jax.nn.sigmoid(jax.random.normal(keys[1], (1, W))),
          jax.random.normal(keys[2], (1, W)))
  cotangent = jax.random.normal(keys[3], (N, W))

  def formula(memory, weights, erase, add):
    return memory * (1.0 - weights[0][:, None] * erase[0][None, :]) + weights.T @ add

  np.testing.assert_allclose(addressing.erase_and_write(*args), formula(*args), atol=1e-6)
  grads = [jax.grad(lambda *a, f=f: jnp.sum(f(*a) * cotangent), argnums=(0, 1, 2, 3))(*args)
           for f in (addressing.erase_and_write, formula)]
  for got, expected in zip(*grads):
    np.testing.assert_allclose(got, expected, atol=1e-5)
  jax.test_util.check_grads(addressing.erase_and_write, args, order=1, modes=['rev'],
                            atol=1e-2, rtol=1e-2)


def test_full_erase_and_one_hot_write_replaces_the_row():
  memory, word = _memory(), jnp.arange(W, dtype=jnp.float32)
  written = addressing.erase_and_write(memory, _one_hot(jnp.array([2])), jnp.ones((1, W)),
                                       word[None])
  np.testing.assert_allclose(written[2], word)
  np.testing.assert_allclose(np.delete(written, 2, 0), np.delete(memory, 2, 0))


def test_update_usage_matches_its_formula():
  keys = jax.random.split(jax.random.PRNGKey(3), 4)
  usage = jax.random.uniform(keys[0], (N,))
  write = jax.nn.softmax(jax.random.normal(keys[1], (N,)))
  free = jax.random.uniform(keys[2], (2,))
  read = jax.nn.softmax(jax.random.normal(keys[3], (2, N)), -1)
  expected = (usage + write - usage * write) * (1 - free[0] * read[0]) * (1 - free[1] * read[1])
  np.testing.assert_allclose(addressing.update_usage(usage, write, free, read), expected,
                             rtol=1e-6)


def test_written_rows_become_used_and_freed_rows_unused():
  usage = addressing.update_usage(jnp.zeros(N), _one_hot(3), jnp.zeros(1), jnp.zeros((1, N)))
  np.testing.assert_allclose(usage, _one_hot(3), atol=1e-6)
  freed = addressing.update_usage(usage, jnp.zeros(N), jnp.ones(1), _one_hot(3)[None])
  np.testing.assert_allclose(freed, 0.0, atol=1e-6)


def test_allocation_picks_the_least_used_row():
  usage = jnp.array([0.9, 0.2, 0.5, 1.0, 0.7, 0.95, 0.3, 0.99])
  allocation = addressing.allocation_weights(usage)
  assert int(jnp.argmax(allocation)) == 1
  # The order follows the usage: the less used a row, the more it is allocated.
  np.testing.assert_array_equal(jnp.argsort(-allocation), jnp.argsort(usage))
  assert float(allocation.sum()) <= 1.0 + 1e-6
  # One free row among fully used ones takes (almost) all of the allocation.
  one_free = addressing.allocation_weights(1.0 - _one_hot(5))
  np.testing.assert_allclose(one_free, _one_hot(5), atol=1e-4)


def test_allocation_sums_to_at_most_one():
  for seed in range(5):
    usage = jax.random.uniform(jax.random.PRNGKey(seed), (N,))
    allocation = addressing.allocation_weights(usage)
    assert jnp.all(allocation >= 0.0)
    assert float(allocation.sum()) <= 1.0 + 1e-6


def _random_writes(steps, seed=4):
  """Write weightings that sum to less than one (a write gate below one)."""
  keys = jax.random.split(jax.random.PRNGKey(seed), 2)
  gates = jax.random.uniform(keys[0], (steps, 1))
  return gates * jax.nn.softmax(3.0 * jax.random.normal(keys[1], (steps, N)), -1)


def test_link_matrix_properties():
  links, precedence = jnp.zeros((N, N)), jnp.zeros(N)
  for write in _random_writes(12):
    links, precedence = _update_links(links, precedence, write)
    np.testing.assert_array_equal(jnp.diag(links), 0.0)
    assert jnp.all(links >= -1e-6) and jnp.all(links <= 1.0 + 1e-6)
    assert jnp.all(links.sum(0) <= 1.0 + 1e-5) and jnp.all(links.sum(1) <= 1.0 + 1e-5)
    assert jnp.all(precedence >= -1e-6) and float(precedence.sum()) <= 1.0 + 1e-5


def _written_in_order(rows):
  links, precedence = jnp.zeros((N, N)), jnp.zeros(N)
  for row in rows:
    links, precedence = _update_links(links, precedence, _one_hot(row))
  return links, precedence


def test_links_record_the_write_order():
  links, precedence = _written_in_order([2, 6])
  np.testing.assert_allclose(links[6, 2], 1.0, atol=1e-6)
  np.testing.assert_allclose(links.sum(), 1.0, atol=1e-6)   # nothing else is linked
  np.testing.assert_allclose(precedence, _one_hot(6), atol=1e-6)


def test_directional_weights_follow_the_links():
  links, _ = _written_in_order([2, 6, 4])
  forward, backward = addressing.directional_weights(links, _one_hot(jnp.array([6, 2])))
  np.testing.assert_allclose(forward, _one_hot(jnp.array([4, 6])), atol=1e-6)
  np.testing.assert_allclose(backward[0], _one_hot(2), atol=1e-6)
  np.testing.assert_allclose(backward[1], 0.0, atol=1e-6)   # nothing was written before 2


def test_touch_stamps_only_rows_above_delta():
  last_access = jnp.zeros(N, jnp.int32)
  indices = jnp.array([[1, 3], [3, 5]])
  weights = jnp.array([[0.5, 0.001], [0.2, addressing.DELTA]])
  touched = addressing.touch(last_access, indices, weights, jnp.int32(7))
  # Row 3 is below δ for head 0 but above for head 1; row 5 is at δ, not above it.
  np.testing.assert_array_equal(touched, [0, 7, 0, 7, 0, 0, 0, 0])
  # A repeated row with a later stamp below δ keeps the earlier time.
  again = addressing.touch(touched, jnp.array([1, 1]), jnp.array([0.0, 0.0]), jnp.int32(9))
  np.testing.assert_array_equal(again, touched)


def test_least_recently_used_picks_the_oldest_row_lowest_index_first():
  assert int(addressing.least_recently_used(jnp.array([5, 3, 9, 3, 4]))) == 1
  assert int(addressing.least_recently_used(jnp.array([5, 6, 2]))) == 2
  assert int(addressing.least_recently_used(jnp.zeros(4, jnp.int32))) == 0


def _sparse():
  indices = jnp.array([[1, 4, 4], [0, 7, 2]], jnp.int32)     # head 0 repeats row 4
  weights = jnp.array([[0.5, 0.2, 0.1], [0.6, 0.3, 0.1]])
  return addressing.SparseWeights(indices, weights)


def test_densify_adds_repeated_rows():
  dense = addressing.densify(_sparse(), N)
  assert dense.shape == (2, N)
  np.testing.assert_allclose(dense[0], [0, 0.5, 0, 0, 0.3, 0, 0, 0], atol=1e-7)
  np.testing.assert_allclose(dense.sum(-1), _sparse().weights.sum(-1), rtol=1e-6)


def test_sparse_read_equals_dense_read_of_densify():
  memory, sparse = _memory(), _sparse()
  np.testing.assert_allclose(addressing.sparse_read(memory, sparse),
                             addressing.dense_read(memory, addressing.densify(sparse, N)),
                             rtol=1e-5, atol=1e-6)


def test_dense_read_is_the_weighted_sum_of_rows():
  memory = _memory()
  np.testing.assert_allclose(addressing.dense_read(memory, _one_hot(jnp.array([3]))),
                             memory[3:4], atol=1e-6)


def test_exact_top_k_and_sparse_content_weights_over_all_rows_equal_dense():
  memory = _memory()
  keys = jax.random.normal(jax.random.PRNGKey(5), (2, W))
  strengths = jnp.array([2.0, 7.0])
  dense = addressing.content_weights(memory, keys, strengths)
  indices = addressing.exact_top_k(memory, keys, N)
  np.testing.assert_array_equal(indices, jnp.argsort(-dense, -1))
  sparse = addressing.sparse_content_weights(memory, keys, strengths, indices)
  np.testing.assert_allclose(addressing.densify(sparse, N), dense, rtol=1e-5, atol=1e-7)


def test_sparse_add_and_erase_rows_touch_only_their_rows():
  memory, word = _memory(), jnp.ones(W)
  added = addressing.sparse_add(memory, jnp.array([2, 5]), jnp.array([0.5, 2.0]), word)
  np.testing.assert_allclose(added[2], memory[2] + 0.5, rtol=1e-6)
  np.testing.assert_allclose(added[5], memory[5] + 2.0, rtol=1e-6)
  erased = addressing.erase_rows(added, jnp.array([5]))
  np.testing.assert_array_equal(erased[5], 0.0)
  np.testing.assert_allclose(np.delete(erased, [2, 5], 0), np.delete(memory, [2, 5], 0))
