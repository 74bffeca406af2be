"""The recurrent-core interface: unrolls across episode starts, and resets that cost
nothing on steps where no episode starts."""

import jax
import jax.numpy as jnp
import numpy as np

from core import recurrent
from core.nn import lstm

B, T, D = 3, 6, 5


def _inputs(key=0):
  return jax.random.normal(jax.random.PRNGKey(key), (T, B, D))


def test_lstm_core_unroll_across_a_start_equals_two_unrolls():
  core = lstm.lstm_core(7)
  x = _inputs()
  params = core.init(jax.random.PRNGKey(1), x[0])
  state = jax.tree.map(lambda s: s + 0.3, core.initial_state(params, None, B))
  first = np.zeros((T, B), bool)
  first[3, 1] = True   # row 1 starts a new episode at step 3
  whole, _ = recurrent.unroll(core, params, state, x, first)
  head, mid_state = recurrent.unroll(core, params, state, x[:3], first[:3])
  # The second half of row 1 starts from the initial state; the other rows carry on.
  fresh = core.initial_state(params, None, B)
  mid_state = jax.tree.map(lambda f, s: s.at[1].set(f[1]), fresh, mid_state)
  tail, _ = recurrent.unroll(core, params, mid_state, x[3:], np.zeros((T - 3, B), bool))
  np.testing.assert_allclose(whole, np.concatenate([head, tail]), rtol=1e-5, atol=1e-6)


def _scan_body(jaxpr):
  scans = [e for e in jaxpr.eqns if e.primitive.name == 'scan']
  assert len(scans) == 1, [e.primitive.name for e in jaxpr.eqns]
  return scans[0].params['jaxpr'].jaxpr


def test_default_reset_selects_only_under_cond():
  """No select over the (large) state at the top level of a step: it runs in a cond
  branch, taken only when some row starts an episode."""
  core = lstm.lstm_core(64)
  x = _inputs()
  params = core.init(jax.random.PRNGKey(1), x[0])
  state = core.initial_state(params, None, B)
  first = jnp.zeros((T, B), bool)
  jaxpr = jax.make_jaxpr(
      lambda s, f: recurrent.unroll(core, params, s, x, f).outputs)(state, first)
  body = _scan_body(jaxpr.jaxpr)
  names = [e.primitive.name for e in body.eqns]
  assert 'cond' in names
  top_selects = [e for e in body.eqns if e.primitive.name == 'select_n'
                 and e.outvars[0].aval.shape == (B, 64)]
  assert not top_selects


def test_a_core_with_its_own_reset_is_used_by_unroll():
  calls = []

  def reset(params, state, first):
    calls.append(first.shape)
    return jnp.where(first, 0.0, state)

  core = recurrent.RecurrentCore(
      init=lambda key, x: {},
      initial_state=lambda params, key, batch_size: jnp.zeros((batch_size,)),
      step=lambda params, state, x: (state + x.sum(-1), state + x.sum(-1)),
      reset=reset)
  x = _inputs()
  first = np.zeros((T, B), bool)
  first[2, 0] = True
  out, _ = recurrent.unroll(core, {}, jnp.zeros((B,)), x, first)
  assert calls == [(B,)]  # traced once, inside the scan
  sums = np.asarray(x.sum(-1))
  want = np.cumsum(sums, axis=0)
  want[2:, 0] = np.cumsum(sums[2:, 0])
  np.testing.assert_allclose(out, want, rtol=1e-5)
