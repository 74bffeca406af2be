"""Checks every memory core's tests run (the ``core_checks`` fixture): finite-difference
gradients of an unroll, and one trace of a jitted unroll across an episode start."""

import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import test_util

from core import recurrent


def to_float64(tree):
  return jax.tree.map(
      lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def check_unroll_gradients(core, x, params):
  """Reverse-mode gradients of ``unroll`` over ``x [T, B, I]`` against finite
  differences, in float64."""
  num_steps, batch_size = x.shape[:2]
  with jax.enable_x64(True):
    x, params = to_float64((x, params))
    state = to_float64(core.initial_state(params, None, batch_size))
    first = jnp.zeros((num_steps, batch_size), bool)
    outputs = jax.jit(lambda p: recurrent.unroll(core, p, state, x, first).outputs)
    assert outputs(params).dtype == jnp.float64
    test_util.check_grads(outputs, (params,), order=1, modes=['rev'], atol=1e-4, rtol=1e-4)


def check_traces_once(core, x, params, output_size):
  """A jitted unroll traces once for new inputs and resets, and stays finite."""
  num_steps, batch_size = x.shape[:2]
  # chex keys its counter by source and call stack, which every model's test shares.
  chex.clear_trace_counter()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def run(params, x, first):
    state = core.initial_state(params, None, batch_size)
    return recurrent.unroll(core, params, state, x, first).outputs

  first = np.zeros((num_steps, batch_size), bool)
  first[1, 0] = True
  outputs = run(params, x, first)
  again = run(params, x + 1.0, np.zeros((num_steps, batch_size), bool))
  assert outputs.shape == again.shape == (num_steps, batch_size, output_size)
  assert jnp.all(jnp.isfinite(outputs)) and jnp.all(jnp.isfinite(again))


@pytest.fixture
def core_checks():
  return types.SimpleNamespace(check_unroll_gradients=check_unroll_gradients,
                               check_traces_once=check_traces_once)
