"""Tests of core.unroll: resets at episode starts, remat, truncated BPTT."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core import unroll as unroll_lib

T, B, D, H = 6, 3, 4, 5


def _lstm():
  cell = nn.OptimizedLSTMCell(H)
  zeros = (jnp.zeros((B, H)), jnp.zeros((B, H)))
  params = cell.init(jax.random.PRNGKey(0), zeros, jnp.zeros((B, D)))
  return (lambda p: lambda s, x: cell.apply(p, s, x)), params, zeros


def _inputs(key=1):
  return jax.random.normal(jax.random.PRNGKey(key), (T, B, D))


def test_boundary_equals_two_separate_unrolls():
  make_cell, params, zeros = _lstm()
  cell = make_cell(params)
  xs = _inputs()
  start = jax.tree.map(lambda z: z + 0.3, zeros)  # a nonzero state before the unroll
  k = 2  # x_k starts a new episode in every batch row
  first = jnp.zeros((T, B), bool).at[k].set(True)
  joint = unroll_lib.unroll(cell, start, xs, first)
  head = unroll_lib.unroll(cell, start, xs[:k], first[:k])
  tail = unroll_lib.unroll(cell, zeros, xs[k:], jnp.zeros((T - k, B), bool))
  np.testing.assert_allclose(joint.outputs[:k], head.outputs, atol=1e-6)
  np.testing.assert_allclose(joint.outputs[k:], tail.outputs, atol=1e-6)
  for a, b in zip(joint.final_state, tail.final_state):
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_reset_is_per_batch_row():
  make_cell, params, zeros = _lstm()
  cell = make_cell(params)
  xs = _inputs()
  start = jax.tree.map(lambda z: z + 0.3, zeros)
  first = jnp.zeros((T, B), bool).at[3, 1].set(True)
  out = unroll_lib.unroll(cell, start, xs, first).outputs
  no_reset = unroll_lib.unroll(cell, start, xs, jnp.zeros((T, B), bool)).outputs
  np.testing.assert_allclose(out[:, 0], no_reset[:, 0], atol=1e-6)
  np.testing.assert_allclose(out[:3, 1], no_reset[:3, 1], atol=1e-6)
  assert not np.allclose(out[3:, 1], no_reset[3:, 1])


def _loss(params, make_cell, zeros, xs, first, **kwargs):
  out = unroll_lib.unroll(make_cell(params), zeros, xs, first, **kwargs).outputs
  return jnp.sum(jnp.sin(out) * jnp.arange(T)[:, None, None])


@pytest.mark.parametrize('policy', [None, jax.checkpoint_policies.nothing_saveable])
def test_remat_gives_same_values_and_gradients(policy):
  make_cell, params, zeros = _lstm()
  xs, first = _inputs(), jnp.zeros((T, B), bool).at[2, 0].set(True)
  value, grads = jax.value_and_grad(_loss)(params, make_cell, zeros, xs, first)
  value_r, grads_r = jax.value_and_grad(_loss)(
      params, make_cell, zeros, xs, first, remat=True, remat_policy=policy)
  np.testing.assert_allclose(value, value_r, rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               grads, grads_r)


def test_truncated_bptt_cuts_gradients_between_chunks_only():
  make_cell, params, zeros = _lstm()
  first = jnp.zeros((T, B), bool)
  cell = make_cell(params)

  def last_output_wrt_inputs(xs, chunk_size):
    out = unroll_lib.unroll(cell, zeros, xs, first, chunk_size=chunk_size).outputs
    return jnp.sum(out[-1])

  xs = _inputs()
  full = jax.grad(last_output_wrt_inputs)(xs, None)
  chunked = jax.grad(last_output_wrt_inputs)(xs, 3)
  # The last step's output depends on every input, but with chunks of 3 its gradient
  # reaches only the inputs of its own chunk (steps 3..5).
  assert np.all(np.abs(full[:3]).sum(axis=(1, 2)) > 0)
  np.testing.assert_array_equal(chunked[:3], 0.0)
  np.testing.assert_allclose(chunked[3:], full[3:], rtol=1e-5, atol=1e-7)
  # Forward values are unchanged by truncation.
  a = unroll_lib.unroll(cell, zeros, xs, first).outputs
  b = unroll_lib.unroll(cell, zeros, xs, first, chunk_size=2).outputs
  np.testing.assert_allclose(a, b, atol=1e-6)


def test_bad_shapes_and_chunk_size_raise_clear_errors():
  make_cell, params, zeros = _lstm()
  cell = make_cell(params)
  with pytest.raises(ValueError, match='first'):
    unroll_lib.unroll(cell, zeros, _inputs(), jnp.zeros((T + 1, B), bool))
  with pytest.raises(ValueError, match='chunk_size'):
    unroll_lib.unroll(cell, zeros, _inputs(), jnp.zeros((T, B), bool), chunk_size=4)


@pytest.mark.parametrize('active, skip_chunk', [
    (50, 16), (20, 16), (10, 64),
    pytest.param(64, 16, marks=pytest.mark.slow), pytest.param(1, 7, marks=pytest.mark.slow),
    pytest.param(49, 1, marks=pytest.mark.slow)])
def test_active_steps_equal_the_full_unroll_where_they_run(active, skip_chunk):
  make_cell, params, zeros = _lstm()
  num_steps = 50   # 50 = 2 + 3 x 16: a head of 2 steps, then 3 skippable chunks
  xs = jax.random.normal(jax.random.PRNGKey(1), (num_steps, B, D))
  first = jnp.zeros((num_steps, B), bool)
  weights = jax.random.normal(jax.random.PRNGKey(2), (num_steps, B, H))
  used = min(active, num_steps)

  def loss(params, **kwargs):   # depends on the first ``active`` outputs only
    out = unroll_lib.unroll(make_cell(params), zeros, xs, first, **kwargs).outputs
    return jnp.sum(out[:used] * weights[:used]), out

  (full_loss, full), full_grad = jax.value_and_grad(loss, has_aux=True)(params)
  (skip_loss, skipped), skip_grad = jax.jit(jax.value_and_grad(
      lambda p: loss(p, active_steps=jnp.int32(active), skip_chunk=skip_chunk),
      has_aux=True))(params)
  np.testing.assert_allclose(skip_loss, full_loss, rtol=1e-5)
  np.testing.assert_allclose(skipped[:used], full[:used], atol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), skip_grad, full_grad)
  head = num_steps % skip_chunk
  run_until = num_steps if active >= num_steps else (
      head + -(-max(active - head, 0) // skip_chunk) * skip_chunk)
  np.testing.assert_allclose(skipped[:run_until], full[:run_until], atol=1e-6)
  assert not np.any(np.asarray(skipped[run_until:]))    # skipped chunks: zeros


def test_skipped_chunks_are_not_computed_forward_or_backward():
  # Inputs from step 34 on are NaN: computing any of them would poison the final state
  # and the gradients. With 20 active steps of 50 the chunk 34-49 must be skipped.
  make_cell, params, zeros = _lstm()
  xs = jax.random.normal(jax.random.PRNGKey(1), (50, B, D)).at[34:].set(jnp.nan)
  first = jnp.zeros((50, B), bool)

  def loss(params):
    result = unroll_lib.unroll(make_cell(params), zeros, xs, first, active_steps=20)
    return jnp.sum(result.outputs) + sum(jnp.sum(s) for s in result.final_state)

  value, grads = jax.jit(jax.value_and_grad(loss))(params)
  assert np.isfinite(value)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_active_steps_rejects_truncation_and_bad_chunks():
  make_cell, params, zeros = _lstm()
  first = jnp.zeros((T, B), bool)
  with pytest.raises(ValueError, match='chunk_size .* or active_steps, not both'):
    unroll_lib.unroll(make_cell(params), zeros, _inputs(), first, chunk_size=2, active_steps=3)
  with pytest.raises(ValueError, match='skip_chunk must be a positive integer'):
    unroll_lib.unroll(make_cell(params), zeros, _inputs(), first, active_steps=3, skip_chunk=0)
