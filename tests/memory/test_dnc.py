"""The DNC access: shapes, weightings, a write-then-read through allocation, content and
the temporal links, freeing, gradients of an unrolled core and a single trace under
``jit``."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memory import dnc
from memory import memory_core

N, W, R = 6, 4, 2
T, B, I = 3, 2, 3
BIG = 30.0
BACKWARD, CONTENT, FORWARD = [BIG, -BIG, -BIG], [-BIG, BIG, -BIG], [-BIG, -BIG, BIG]


def _interface(sizes, **pieces):
  """A flat interface vector from named pieces; a missing piece is zeros."""
  return jnp.concatenate([
      jnp.broadcast_to(jnp.asarray(pieces.get(name, 0.0), jnp.float32), shape).reshape(-1)
      for name, shape in sizes.items()])


def test_interface_size_and_shapes():
  access = dnc.dnc_access(num_rows=N, word_size=W, num_reads=R)
  assert access.interface_size == R * W + 3 * W + 5 * R + 3   # the paper's |ξ_t|
  assert (access.num_reads, access.word_size) == (R, W)
  state = access.initial_state()
  assert state.memory.shape == (N, W) and state.links.shape == (N, N)
  assert state.usage.shape == state.precedence.shape == state.write_weights.shape == (N,)
  assert state.read_weights.shape == (R, N)
  interface = jax.random.normal(jax.random.PRNGKey(0), (access.interface_size,))
  new_state, reads = jax.jit(access.step)(state, interface)
  assert reads.shape == (R, W)
  chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


def test_one_write_head_only():
  with pytest.raises(ValueError, match='one write head'):
    dnc.dnc_access(num_rows=N, word_size=W, num_reads=R, num_writes=2)


def test_weightings_stay_within_their_bounds():
  access = dnc.dnc_access(num_rows=N, word_size=W, num_reads=R)
  step = jax.jit(access.step)
  state = access.initial_state()
  for key in jax.random.split(jax.random.PRNGKey(1), 5):
    state, _ = step(state, 3.0 * jax.random.normal(key, (access.interface_size,)))
    assert jnp.all(state.read_weights >= 0.0) and jnp.all(state.write_weights >= 0.0)
    assert jnp.all(state.read_weights.sum(-1) <= 1.0 + 1e-5)
    assert float(state.write_weights.sum()) <= 1.0 + 1e-5
    assert jnp.all(state.usage >= 0.0) and jnp.all(state.usage <= 1.0 + 1e-6)
    np.testing.assert_array_equal(jnp.diag(state.links), 0.0)
    assert jnp.all(state.links.sum(0) <= 1.0 + 1e-5) and jnp.all(state.links.sum(1) <= 1.0 + 1e-5)
  # Content reads alone are distributions.
  sizes = dnc.interface_sizes(W, R)
  interface = _interface(sizes, read_keys=jax.random.normal(jax.random.PRNGKey(2), (R, W)),
                         read_modes=[CONTENT] * R)
  state, _ = step(state, interface)
  np.testing.assert_allclose(state.read_weights.sum(-1), 1.0, rtol=1e-5)


def test_write_then_read_by_content_and_by_the_links_then_free():
  sizes = dnc.interface_sizes(W, R)
  access = dnc.dnc_access(num_rows=N, word_size=W, num_reads=R)
  step = jax.jit(access.step)
  v, u = jnp.array([1.0, -1.0, 2.0, -2.0]), jnp.array([2.0, 1.0, -1.0, -2.0])
  # Write by allocation alone, replacing the row, and keep every row in use.
  write = dict(allocation_gate=BIG, write_gate=BIG, erase=BIG, free_gates=-BIG)
  read = dict(read_strengths=100.0, read_modes=[CONTENT] * R)

  state, reads = step(access.initial_state(),
                      _interface(sizes, write_vector=v, read_keys=[v, v], **write, **read))
  first_row = int(jnp.argmax(state.write_weights))
  np.testing.assert_allclose(state.write_weights, jax.nn.one_hot(first_row, N), atol=1e-5)
  np.testing.assert_allclose(reads, jnp.stack([v, v]), atol=1e-4)   # written this step

  state, reads = step(state, _interface(sizes, write_vector=u, read_keys=[v, u], **write,
                                        **read))
  second_row = int(jnp.argmax(state.write_weights))
  assert second_row != first_row   # allocation skips the used row
  np.testing.assert_allclose(state.write_weights, jax.nn.one_hot(second_row, N), atol=1e-5)
  np.testing.assert_allclose(reads, jnp.stack([v, u]), atol=1e-4)
  np.testing.assert_allclose(state.links[second_row, first_row], 1.0, atol=1e-4)

  # No write; head 0 (on v) follows the links forward to u, head 1 (on u) backward to v.
  state, reads = step(state, _interface(sizes, write_gate=-BIG, free_gates=-BIG,
                                        read_modes=[FORWARD, BACKWARD]))
  np.testing.assert_allclose(reads, jnp.stack([u, v]), atol=1e-4)

  # Free gates release the rows the heads just read.
  state, _ = step(state, _interface(sizes, write_gate=-BIG, free_gates=BIG,
                                    read_modes=[CONTENT] * R))
  np.testing.assert_allclose(state.usage[jnp.array([first_row, second_row])], 0.0, atol=1e-3)


def _core_and_inputs():
  access = dnc.dnc_access(num_rows=5, word_size=3, num_reads=R)
  core = memory_core.make_core(access, 16)
  x = jax.random.normal(jax.random.PRNGKey(3), (T, B, I))
  return core, x, core.init(jax.random.PRNGKey(4), x[0])


def test_unrolled_core_gradients_match_finite_differences(core_checks):
  core_checks.check_unroll_gradients(*_core_and_inputs())


def test_jitted_unroll_traces_once(core_checks):
  core_checks.check_traces_once(*_core_and_inputs(), output_size=16 + R * 3)


def test_rejects_empty_sizes():
  with pytest.raises(ValueError, match='num_reads'):
    dnc.dnc_access(num_rows=N, word_size=W, num_reads=0)
