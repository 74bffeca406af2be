"""Helpers shared by the core/nn tests, as the ``nnt`` fixture."""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def _normal(seed, shape):
  # numpy, not jax.random: each new shape would cost jax.random a compilation of ~1 s here.
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _assert_close(actual, expected, rtol=1e-4):
  """Max-norm relative closeness: |actual - expected|_inf <= rtol * |expected|_inf."""
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape, (actual.shape, expected.shape)
  scale = max(np.max(np.abs(expected)), 1e-30)
  np.testing.assert_array_less(np.max(np.abs(actual - expected)), rtol * scale)


def _primitives(jaxpr):
  """Names of all primitives in a jaxpr, nested jaxprs (scan, pjit, custom_vjp) included."""
  names = set()
  for eqn in jaxpr.eqns:
    names.add(eqn.primitive.name)
    for value in eqn.params.values():
      for inner in (value if isinstance(value, (tuple, list)) else (value,)):
        inner = getattr(inner, 'jaxpr', inner)
        if hasattr(inner, 'eqns'):
          names |= _primitives(inner)
  return names


def _outputs_and_grads(apply_fns, params, x, cotangent):
  """Per apply_fn: its output, and the gradients of <output, cotangent> w.r.t. params, x.

  One jitted function for all of them: compiling is most of these tests' time.
  """
  def functional(apply_fn, params, x):
    y = apply_fn(params, x)
    return jnp.sum(y * cotangent), y

  def run(params, x):
    return {name: jax.grad(functools.partial(functional, fn), (0, 1), has_aux=True)(params, x)
            for name, fn in apply_fns.items()}
  return jax.jit(run)(params, x)


@pytest.fixture
def nnt():
  """``normal``, ``assert_close``, ``primitives``, ``outputs_and_grads``."""
  return types.SimpleNamespace(normal=_normal, assert_close=_assert_close,
                               primitives=_primitives, outputs_and_grads=_outputs_and_grads)
