"""The SDNC: its sparse link matrix against the DNC's dense one, its directional reads,
and the model's gradients and tracing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memory import addressing
from memory import memory_core
from memory import sdnc
from memory import sparse_links

N = 7


def _random_writes(key, num_steps, num_written=3):
  """Sparse write weights: ``num_written`` rows (repeats allowed) whose weights sum < 1."""
  rows_key, weights_key = jax.random.split(key)
  rows = jax.random.randint(rows_key, (num_steps, num_written), 0, N)
  weights = jax.random.dirichlet(weights_key, jnp.ones(num_written + 1), (num_steps,))
  return rows, weights[:, :num_written]


def _dense_writes(rows, weights):
  return jnp.zeros((N,)).at[rows].add(weights)


def _run(links_per_row, num_steps=12, seed=0):
  rows, weights = _random_writes(jax.random.PRNGKey(seed), num_steps)

  def step(carry, written):
    links, dense, precedence = carry
    dense, precedence = addressing.update_links(dense, precedence, _dense_writes(*written))
    return (sparse_links.update(links, *written), dense, precedence), None

  start = (sparse_links.create(N, links_per_row), jnp.zeros((N, N)), jnp.zeros((N,)))
  return jax.jit(lambda: jax.lax.scan(step, start, (rows, weights))[0])()


def test_links_equal_the_dnc_links_when_rows_hold_every_entry():
  links, dense, precedence = _run(links_per_row=N)
  from_pred, from_succ, p = sparse_links.dense(links, N)
  np.testing.assert_allclose(from_pred, dense, atol=1e-6)
  np.testing.assert_allclose(from_succ, dense, atol=1e-6)
  np.testing.assert_allclose(p, precedence, atol=1e-6)


def test_capped_links_keep_at_most_k_entries_per_row_and_the_links_properties():
  links, dense, _ = _run(links_per_row=2, num_steps=20)
  from_pred, from_succ, _ = sparse_links.dense(links, N)
  for matrix in (from_pred, from_succ.T):  # rows of L, then columns of L
    assert int(jnp.max(jnp.sum(matrix > 0, axis=1))) <= 2
  for matrix in (from_pred, from_succ):
    assert float(jnp.min(matrix)) >= 0.0
    np.testing.assert_allclose(jnp.diag(matrix), 0.0)
    # The DNC's L has rows and columns summing to at most 1.
    assert float(jnp.max(jnp.sum(matrix, 0))) <= 1.0 + 1e-5
    assert float(jnp.max(jnp.sum(matrix, 1))) <= 1.0 + 1e-5
  # The cap drops entries: the dense L has rows with more than two.
  assert int(jnp.max(jnp.sum(dense > 1e-7, axis=1))) > 2


def test_forward_and_backward_reads_equal_the_dense_ones():
  links, dense, _ = _run(links_per_row=N)
  read_rows = jnp.array([[0, 3, 5], [1, 1, 6]])
  read_weights = jnp.array([[0.5, 0.3, 0.2], [0.4, 0.1, 0.5]])
  dense_reads = jnp.zeros((2, N)).at[jnp.arange(2)[:, None], read_rows].add(read_weights)
  forward, backward = addressing.directional_weights(dense, dense_reads)
  for follow, expected in ((sparse_links.forward_weights, forward),
                           (sparse_links.backward_weights, backward)):
    rows, weights = follow(links, read_rows, read_weights, N)
    got = jnp.zeros((2, N)).at[jnp.arange(2)[:, None], rows].add(weights)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # With k < N only the largest survive.
    rows, weights = follow(links, read_rows, read_weights, 2)
    np.testing.assert_allclose(jnp.sort(weights, axis=1),
                               jnp.sort(expected, axis=1)[:, -2:], atol=1e-6)


def test_merge_top_k_sums_repeats_and_pads():
  rows, vals = sparse_links.merge_top_k(jnp.array([4, 2, 4, 1]),
                                        jnp.array([0.1, 0.3, 0.5, 0.2]), 5)
  assert rows.tolist()[:3] == [4, 2, 1]
  np.testing.assert_allclose(vals, [0.6, 0.3, 0.2, 0.0, 0.0], atol=1e-7)


@pytest.mark.parametrize('k', [3, 90])
def test_merge_top_k_through_a_dense_array_equals_the_sort(k):
  # 80 candidates (more than _SMALL: the sort path) on 100 rows: repeats, zero values,
  # fewer distinct rows than k=90. The dense path (num_rows <= 2 × candidates) against
  # the sort, values and gradients.
  rows_key, vals_key, cotangent_key = jax.random.split(jax.random.PRNGKey(5), 3)
  assert sparse_links._SMALL < 80 <= 100 <= sparse_links.DENSE_MERGE_RATIO * 80
  rows = jax.random.randint(rows_key, (4, 80), 0, 100)
  vals = jax.random.uniform(vals_key, (4, 80)) * (jax.random.uniform(cotangent_key, (4, 80))
                                                   > 0.2)
  cotangent = jax.random.normal(cotangent_key, (4, k))

  def merged(vals, num_rows):
    return sparse_links.merge_top_k(rows, vals, k, num_rows=num_rows)

  sort_rows, sort_vals = merged(vals, None)
  dense_rows, dense_vals = merged(vals, 100)
  np.testing.assert_array_equal(dense_rows, sort_rows)
  np.testing.assert_allclose(dense_vals, sort_vals, atol=1e-6)
  grads = [jax.grad(lambda v, n=n: jnp.sum(merged(v, n)[1] * cotangent))(vals)
           for n in (None, 100)]
  np.testing.assert_allclose(grads[1], grads[0], atol=1e-6)


def test_lookup_finds_summed_rows_and_zero_elsewhere():
  distinct, sums = sparse_links.unique_sum(jnp.array([5, 2, 5, 9]),
                                           jnp.array([0.1, 0.2, 0.3, 0.4]))
  got = sparse_links.lookup(distinct, sums, jnp.array([[9, 5], [2, 0]]))
  np.testing.assert_allclose(got, [[0.4, 0.4], [0.2, 0.0]], atol=1e-7)


def test_reads_follow_the_order_of_writes():
  # Written in the order 2, 5, 1 with weight ~1 each: reading row 5 forward finds 1,
  # backward finds 2.
  links, _ = jax.lax.scan(
      lambda links, row: (sparse_links.update(links, row[None], jnp.array([0.999])), None),
      sparse_links.create(N, 4), jnp.array([2, 5, 1]))
  read = (jnp.array([[5]]), jnp.array([[1.0]]))
  (forward_row,), _ = sparse_links.forward_weights(links, *read, 1)
  (backward_row,), _ = sparse_links.backward_weights(links, *read, 1)
  assert int(forward_row[0]) == 1 and int(backward_row[0]) == 2


def _core_and_inputs():
  access = sdnc.sdnc_access(num_rows=6, word_size=3, num_reads=2, k=2, links_per_row=3)
  core = memory_core.make_core(access, 8)
  x = jax.random.normal(jax.random.PRNGKey(3), (3, 2, 5))
  return core, x, core.init(jax.random.PRNGKey(4), x[0])


def test_unrolled_core_gradients_match_finite_differences(core_checks):
  core_checks.check_unroll_gradients(*_core_and_inputs())


def test_jitted_unroll_traces_once(core_checks):
  core_checks.check_traces_once(*_core_and_inputs(), output_size=8 + 2 * 3)


def test_rejects_bad_sizes():
  with pytest.raises(ValueError, match='links_per_row'):
    sdnc.sdnc_access(num_rows=8, word_size=4, num_reads=1, k=2, links_per_row=0)
  with pytest.raises(ValueError, match='k must be <= num_rows'):
    sdnc.sdnc_access(num_rows=4, word_size=4, num_reads=1, k=5)
