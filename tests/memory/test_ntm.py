"""The NTM access: shapes, its addressing stages, a write-then-read, gradients of an
unrolled core and a single trace under ``jit``."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memory import memory_core
from memory import ntm

N, W, R = 6, 4, 2
T, B, I = 3, 2, 3
BIG = 30.0
STAY, FORWARD = [-BIG, BIG, -BIG], [-BIG, -BIG, BIG]   # shift logits over (−1, 0, +1)


def _interface(sizes, **pieces):
  """A flat interface vector from named pieces; a missing piece is zeros."""
  return jnp.concatenate([
      jnp.broadcast_to(jnp.asarray(pieces.get(name, 0.0), jnp.float32), shape).reshape(-1)
      for name, shape in sizes.items()])


def test_interface_size_and_shapes():
  access = ntm.ntm_access(num_rows=N, word_size=W, num_reads=R, num_writes=2)
  assert access.interface_size == R * (W + 6) + 2 * (3 * W + 6)
  assert (access.num_reads, access.word_size) == (R, W)
  state = access.initial_state()
  assert state.memory.shape == (N, W)
  assert state.read_weights.shape == (R, N) and state.write_weights.shape == (2, N)
  interface = jax.random.normal(jax.random.PRNGKey(0), (access.interface_size,))
  new_state, reads = jax.jit(access.step)(state, interface)
  assert reads.shape == (R, W)
  chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


def test_weightings_are_distributions():
  access = ntm.ntm_access(num_rows=N, word_size=W, num_reads=R, num_writes=2)
  step = jax.jit(access.step)
  state = access.initial_state()
  for key in jax.random.split(jax.random.PRNGKey(1), 4):
    state, _ = step(state, 3.0 * jax.random.normal(key, (access.interface_size,)))
    for weights in (state.read_weights, state.write_weights):
      assert jnp.all(weights >= 0.0)
      np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)


def test_circular_shift_wraps_around():
  last, first = jax.nn.one_hot(jnp.array([N - 1]), N), jax.nn.one_hot(jnp.array([0]), N)
  np.testing.assert_allclose(ntm.circular_shift(last, jnp.array([[0.0, 0.0, 1.0]])), first)
  np.testing.assert_allclose(ntm.circular_shift(first, jnp.array([[1.0, 0.0, 0.0]])), last)
  # A split shift spreads the weight over the neighbours.
  spread = ntm.circular_shift(first, jnp.array([[0.25, 0.5, 0.25]]))
  np.testing.assert_allclose(spread[0, [N - 1, 0, 1]], [0.25, 0.5, 0.25])


def test_sharpen_keeps_a_distribution_at_gamma_one_and_peaks_at_large_gamma():
  weights = jnp.array([[0.1, 0.6, 0.3]])
  np.testing.assert_allclose(ntm.sharpen(weights, jnp.array([1.0])), weights, rtol=1e-4)
  np.testing.assert_allclose(ntm.sharpen(weights, jnp.array([50.0])), [[0, 1, 0]], atol=1e-6)


def test_write_then_read_returns_the_written_words():
  sizes = ntm.interface_sizes(W, 2, 1)
  access = ntm.ntm_access(num_rows=N, word_size=W, num_reads=2)
  step = jax.jit(access.step)
  v, u = jnp.array([1.0, -1.0, 2.0, -2.0]), jnp.array([2.0, 1.0, -1.0, -2.0])
  # The write head ignores content (gate 0) and moves by location: it stays on row 0,
  # where every head starts, then shifts to row 1. Erase 1 replaces each row.
  write = dict(write_gates=[-BIG], write_sharpen=[BIG], erase=BIG)
  # The read heads look up by content alone (gate 1), on the memory just written.
  read = dict(read_strengths=BIG, read_gates=BIG, read_shifts=[STAY, STAY], read_sharpen=BIG)
  state, reads = step(access.initial_state(), _interface(
      sizes, write_shifts=[STAY], add=[v], read_keys=[v, v], **write, **read))
  np.testing.assert_allclose(state.write_weights, jax.nn.one_hot(jnp.array([0]), N), atol=1e-5)
  np.testing.assert_allclose(reads, jnp.stack([v, v]), atol=1e-4)   # written this step
  state, reads = step(state, _interface(
      sizes, write_shifts=[FORWARD], add=[u], read_keys=[v, u], **write, **read))
  np.testing.assert_allclose(state.write_weights, jax.nn.one_hot(jnp.array([1]), N), atol=1e-5)
  np.testing.assert_allclose(state.memory[:2], jnp.stack([v, u]), atol=1e-4)
  np.testing.assert_allclose(reads, jnp.stack([v, u]), atol=1e-4)


def _core_and_inputs():
  access = ntm.ntm_access(num_rows=5, word_size=3, num_reads=R, num_writes=2)
  core = memory_core.make_core(access, 16)
  x = jax.random.normal(jax.random.PRNGKey(2), (T, B, I))
  return core, x, core.init(jax.random.PRNGKey(3), x[0])


def test_unrolled_core_gradients_match_finite_differences(core_checks):
  core_checks.check_unroll_gradients(*_core_and_inputs())


def test_jitted_unroll_traces_once(core_checks):
  core_checks.check_traces_once(*_core_and_inputs(), output_size=16 + R * 3)


def test_rejects_empty_sizes():
  with pytest.raises(ValueError, match='num_rows'):
    ntm.ntm_access(num_rows=0, word_size=W, num_reads=R)
