"""Tests of core/nn/max_pool.py: the matmul max-pool equals flax's, values and gradients
(ties included)."""

import functools
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core.nn import implementation as implementation_lib
from core.nn import max_pool

# (name, input shape, window, strides, padding).
POOL_CASES = [
    ('deep_84', (2, 84, 84, 16), (3, 3), (2, 2), 'SAME'),
    ('deep_42', (2, 42, 42, 32), (3, 3), (2, 2), 'SAME'),
    ('deep_21', (2, 21, 21, 32), (3, 3), (2, 2), 'SAME'),
    ('odd_valid', (3, 10, 7, 3), (2, 3), (1, 2), 'VALID'),
    ('stride3_same', (2, 9, 8, 3), (4, 2), (3, 1), 'SAME'),
]


@pytest.mark.parametrize('case', POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_max_pool_matches_flax_without_ties(case, nnt):
  _, shape, window, strides, padding = case
  # Continuous random inputs: no two elements of a window are equal.
  x = nnt.normal(0, shape)
  y_shape = jax.eval_shape(lambda x: nn.max_pool(x, window, strides, padding), x).shape
  cotangent = nnt.normal(1, y_shape)
  apply_fns = {'flax': lambda _, x: nn.max_pool(x, window, strides, padding)}
  for implementation in ('standard', 'matmul'):
    apply_fns[implementation] = (
        lambda _, x, impl=implementation: max_pool.max_pool(x, window, strides, padding, impl))
  results = nnt.outputs_and_grads(apply_fns, (), x, cotangent)
  (_, grad_ref), y_ref = results.pop('flax')
  for (_, grad), y in results.values():
    np.testing.assert_array_equal(y, y_ref)
    nnt.assert_close(grad, grad_ref)


def _first_max_reference(x, window, strides, pads):
  """For each output (n, p, q, c): the input index of the window's first maximum (numpy)."""
  n, h, w, c = x.shape
  (ph, _), (pw, _) = pads
  out_h = (h + sum(pads[0]) - window[0]) // strides[0] + 1
  out_w = (w + sum(pads[1]) - window[1]) // strides[1] + 1
  firsts = {}
  for b, p, q, ch in itertools.product(range(n), range(out_h), range(out_w), range(c)):
    best = None
    for i, j in itertools.product(range(window[0]), range(window[1])):
      r, s = p * strides[0] + i - ph, q * strides[1] + j - pw
      if 0 <= r < h and 0 <= s < w and (best is None or x[b, r, s, ch] > x[best]):
        best = (b, r, s, ch)
    firsts[(b, p, q, ch)] = best
  return firsts


def test_max_pool_gradient_on_ties_goes_wholly_to_the_first_maximum():
  """With ties, each window's gradient mass (one) lands on its first maximum only."""
  window, strides = (3, 3), (2, 2)
  # Values in {0, 1, 2}: nearly every window has tied maxima; windows overlap.
  x = jnp.asarray(np.random.default_rng(0).integers(0, 3, (1, 7, 9, 2)), jnp.float32)

  @jax.jit
  def per_output_grads(x):
    """Row k: the gradient of output k (flattened) w.r.t. x, ours and flax's."""
    def rows(pool):
      y, pool_vjp = jax.vjp(pool, x)
      basis = jnp.eye(y.size).reshape((y.size,) + y.shape)
      return y, jax.vmap(lambda ct: pool_vjp(ct)[0])(basis)
    return (rows(lambda x: max_pool.max_pool(x, window, strides, 'SAME', 'matmul')),
            rows(lambda x: nn.max_pool(x, window, strides, 'SAME'))[1])

  (y, grads), grads_ref = per_output_grads(x)
  grads = np.asarray(grads)
  # 'SAME' for 7 -> 4 rows pads 1 + 1; for 9 -> 5 columns pads 1 + 1.
  firsts = _first_max_reference(np.asarray(x), window, strides, ((1, 1), (1, 1)))
  for k, out_index in enumerate(np.ndindex(y.shape)):
    np.testing.assert_allclose(grads[k].sum(), 1.0)
    assert np.count_nonzero(grads[k]) == 1
    assert grads[k][firsts[out_index]] == 1.0
    assert x[firsts[out_index]] == y[out_index]
  # reduce_window's gradient breaks ties the same way.
  np.testing.assert_array_equal(grads, grads_ref)


def test_max_pool_keeps_leading_batch_axes(nnt):
  x = nnt.normal(0, (2, 3, 9, 9, 2))
  y = max_pool.max_pool(x, (3, 3), (2, 2), 'SAME', 'matmul')
  np.testing.assert_array_equal(y, nn.max_pool(x, (3, 3), (2, 2), 'SAME'))


def test_float32_stays_float32():
  x = jax.ShapeDtypeStruct((2, 9, 9, 3), jnp.float32)
  pool = functools.partial(max_pool.max_pool, window=(3, 3), strides=(2, 2),
                           implementation='matmul')
  assert jax.eval_shape(pool, x).dtype == jnp.float32


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='auto is matmul on CPU only')
def test_auto_on_cpu_traces_no_reduce_window(nnt):
  x = jax.ShapeDtypeStruct((implementation_lib.MATMUL_MIN_BATCH, 21, 21, 8), jnp.float32)

  def pool(implementation):
    loss = lambda x: jnp.sum(max_pool.max_pool(x, (3, 3), (2, 2), 'SAME', implementation))
    return jax.make_jaxpr(jax.value_and_grad(loss))(x).jaxpr

  auto, standard = nnt.primitives(pool('auto')), nnt.primitives(pool('standard'))
  assert 'reduce_window_max' in standard
  assert not any(name.startswith(('reduce_window', 'select_and')) for name in auto)


def test_bad_arguments_raise_clear_errors():
  x = jnp.zeros((1, 8, 8, 3))
  with pytest.raises(ValueError, match='strides'):
    max_pool.max_pool(x, (3, 3), (0, 2))
  with pytest.raises(ValueError, match='padding'):
    max_pool.max_pool(x, (3, 3), (2, 2), 'CIRCULAR')
  with pytest.raises(ValueError, match='does not fit'):
    max_pool.max_pool(x, (9, 9), (1, 1), 'VALID')
