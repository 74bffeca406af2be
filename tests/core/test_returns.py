"""Tests for core.returns: hand-worked numbers, an independent V-trace, and properties."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from core import returns


def _np_vtrace(log_rhos, discounts, rewards, values, bootstrap_value, *,
               clip_rho_threshold, clip_c_threshold, clip_pg_rho_threshold, lambda_):
  """IMPALA's sum form of V-trace, one double loop per trajectory (float64).

  v_s = V(x_s) + Σ_{t≥s} (Π_{i=s}^{t−1} γ_i c_i) ρ_t δ'_t with
  δ'_t = r_t + γ_t V(x_{t+1}) − V(x_t). The paper writes γ^{t−s} Π c_i for a constant γ;
  with per-step discounts the product takes γ_i from each transition i = s .. t−1 that lies
  between x_s and x_t, so a zero discount cuts off every later term.
  """
  log_rhos, discounts, rewards, values = (
      np.asarray(x, np.float64) for x in (log_rhos, discounts, rewards, values))
  bootstrap_value = np.asarray(bootstrap_value, np.float64)
  rhos = np.exp(log_rhos)
  clip = lambda th: rhos if th is None else np.minimum(th, rhos)
  rho, c, rho_pg = clip(clip_rho_threshold), lambda_ * clip(clip_c_threshold), clip(
      clip_pg_rho_threshold)
  num_steps = log_rhos.shape[0]
  values_ext = np.concatenate([values, bootstrap_value[None]], axis=0)  # V(x_0) .. V(x_T)
  delta = rewards + discounts * values_ext[1:] - values_ext[:-1]
  vs = np.zeros_like(values)
  for s in range(num_steps):
    total = values[s].copy()
    trace = np.ones_like(values[s])  # Π_{i=s}^{t−1} γ_i c_i, empty product at t = s.
    for t in range(s, num_steps):
      total += trace * rho[t] * delta[t]
      trace = trace * discounts[t] * c[t]
    vs[s] = total
  vs_ext = np.concatenate([vs, bootstrap_value[None]], axis=0)
  pg_advantages = rho_pg * (rewards + discounts * vs_ext[1:] - values)
  return vs, pg_advantages


def _random_trajectory(rng, shape):
  """Random V-trace inputs with clipping active and terminations inside the unroll."""
  log_rhos = rng.normal(size=shape)
  discounts = 0.95 * (rng.uniform(size=shape) > 0.2)
  rewards = rng.normal(size=shape)
  values = rng.normal(size=shape)
  bootstrap_value = rng.normal(size=shape[1:])
  return [np.asarray(x, np.float32)
          for x in (log_rhos, discounts, rewards, values, bootstrap_value)]


# ---------------------------------------------------------------------------------------------
# V-trace.


def test_vtrace_hand_worked():
  # ρ = π/μ = [2, 0.5, 0.8]; ρ̄ = c̄ = ρ̄_pg = 1, λ = 1, so ρ = c = ρ̃ = [1, 0.5, 0.8]
  # (the first clips at 1). γ = 0.9, r = [1, 2, 3], V(x_0..x_2) = [0.5, 1, 1.5], V(x_3) = 2.
  # δ'_t = r_t + γ V(x_{t+1}) − V(x_t):
  #   δ'_0 = 1 + 0.9·1.0 − 0.5 = 1.4
  #   δ'_1 = 2 + 0.9·1.5 − 1.0 = 2.35
  #   δ'_2 = 3 + 0.9·2.0 − 1.5 = 3.3
  # ρ δ' = [1.4, 1.175, 2.64].
  # v_2 − V_2 = 2.64                               -> v_2 = 1.5 + 2.64  = 4.14
  # v_1 − V_1 = 1.175 + 0.9·0.5·2.64 = 2.363       -> v_1 = 1.0 + 2.363 = 3.363
  # v_0 − V_0 = 1.4 + 0.9·1·2.363 = 3.5267         -> v_0 = 0.5 + 3.5267 = 4.0267
  # pg_0 = 1.0·(1 + 0.9·3.363 − 0.5) = 3.5267
  # pg_1 = 0.5·(2 + 0.9·4.14 − 1.0)  = 0.5·4.726 = 2.363
  # pg_2 = 0.8·(3 + 0.9·2.0 − 1.5)   = 0.8·3.3   = 2.64
  out = returns.vtrace(
      log_rhos=np.log([2.0, 0.5, 0.8]),
      discounts=[0.9, 0.9, 0.9],
      rewards=[1.0, 2.0, 3.0],
      values=[0.5, 1.0, 1.5],
      bootstrap_value=2.0)
  np.testing.assert_allclose(out.vs, [4.0267, 3.363, 4.14], rtol=1e-5)
  np.testing.assert_allclose(out.pg_advantages, [3.5267, 2.363, 2.64], rtol=1e-5)
  assert out.vs.dtype == jnp.float32


def test_vtrace_hand_worked_trace_clip_and_lambda():
  # Same trajectory, but c̄ = 0.4 and λ = 0.5: c = 0.5·min(0.4, [2, 0.5, 0.8]) = [0.2, 0.2, 0.2]
  # while ρ = [1, 0.5, 0.8] as before, so ρ δ' = [1.4, 1.175, 2.64].
  # v_2 − V_2 = 2.64                               -> v_2 = 4.14
  # v_1 − V_1 = 1.175 + 0.9·0.2·2.64 = 1.6502      -> v_1 = 2.6502
  # v_0 − V_0 = 1.4 + 0.9·0.2·1.6502 = 1.697036    -> v_0 = 2.197036
  # pg_0 = 1.0·(1 + 0.9·2.6502 − 0.5) = 2.88518
  # pg_1 = 0.5·(2 + 0.9·4.14 − 1.0)   = 2.363
  # pg_2 = 0.8·3.3                    = 2.64
  out = returns.vtrace(
      np.log([2.0, 0.5, 0.8]), [0.9, 0.9, 0.9], [1.0, 2.0, 3.0], [0.5, 1.0, 1.5], 2.0,
      clip_c_threshold=0.4, lambda_=0.5)
  np.testing.assert_allclose(out.vs, [2.197036, 2.6502, 4.14], rtol=1e-5)
  np.testing.assert_allclose(out.pg_advantages, [2.88518, 2.363, 2.64], rtol=1e-5)


def test_vtrace_mask_bootstraps_a_truncation_from_its_final_observation():
  # A truncated episode: x_0 -> x_1 (final observation, discount 1), then a reset step
  # x_1 -> x_2 (masked, discount 0), then x_2 -> x_3 in the next episode. On-policy.
  # V = [0.5, 4.0, 1.0], V(x_3) = 2, r = [1, 0, 3], γ = 0.9.
  # Step 1 is masked: v_1 = V(x_1) = 4 and pg_1 = 0, whatever its reward or discount.
  # v_2 = r_2 + γ V(x_3) = 3 + 1.8 = 4.8; pg_2 = 4.8 − 1.0 = 3.8.
  # v_0 = r_0 + γ v_1 = 1 + 0.9·4 = 4.6 (bootstraps from the final observation's value);
  # pg_0 = 4.6 − 0.5 = 4.1.
  out = returns.vtrace(np.zeros(3), [0.9, 0.0, 0.9], [1.0, 0.0, 3.0], [0.5, 4.0, 1.0], 2.0,
                       mask=[True, False, True])
  np.testing.assert_allclose(out.vs, [4.6, 4.0, 4.8], rtol=1e-6)
  np.testing.assert_allclose(out.pg_advantages, [4.1, 0.0, 3.8], rtol=1e-6)
  # Off-policy ratios at the masked step do not matter.
  off = returns.vtrace(np.log([1.0, 5.0, 1.0]), [0.9, 0.0, 0.9], [1.0, 7.0, 3.0],
                       [0.5, 4.0, 1.0], 2.0, mask=[True, False, True])
  np.testing.assert_allclose(off.vs, out.vs, rtol=1e-6)
  with pytest.raises(ValueError, match='mask has shape'):
    returns.vtrace(np.zeros(3), np.ones(3), np.ones(3), np.ones(3), 0.0, mask=[True])


@pytest.mark.parametrize('lambda_', [1.0, 0.5])
def test_masked_reset_step_returns_its_own_value_in_every_return(lambda_):
  # The trajectory of the V-trace mask test: x_1 is a truncated episode's final
  # observation, step 1 the reset step. V(x_0..x_2) = [0.5, 4, 1], V(x_3) = 2, γ = 0.9.
  # Step 1's return is V(x_1) = 4 whatever λ; step 2: 3 + 0.9·2 = 4.8;
  # step 0: 1 + 0.9·((1 − λ) V(x_1) + λ G_1) = 1 + 0.9·4 = 4.6.
  rewards, discounts, mask = [1.0, 0.0, 3.0], [0.9, 0.0, 0.9], [True, False, True]
  own_values, bootstrap = np.array([0.5, 4.0, 1.0]), 2.0
  next_values = np.array([4.0, 1.0, 2.0])  # rlax convention: V(x_{t+1})
  want = [4.6, 4.0, 4.8]
  np.testing.assert_allclose(
      returns.lambda_returns(rewards, discounts, next_values, lambda_=lambda_, mask=mask),
      want, rtol=1e-6)
  np.testing.assert_allclose(
      returns.n_step_returns(rewards, discounts, next_values, n=2, lambda_=lambda_,
                             mask=mask), want, rtol=1e-6)
  out = returns.gae(rewards, discounts, own_values, bootstrap, lambda_=lambda_, mask=mask)
  np.testing.assert_allclose(out.returns, want, rtol=1e-6)
  np.testing.assert_allclose(out.advantages, np.array(want) - own_values, rtol=1e-6,
                             atol=1e-6)


@pytest.mark.parametrize('shape, thresholds, lambda_', [
    ((7, 2, 3), (1.0, 0.7, 1.0), 0.9),
    ((7, 2, 3), (2.0, 1.0, 0.5), 1.0),
    ((11,), (1.0, 0.5, 1.5), 0.8),
    ((6, 4), (None, None, None), 0.9),
    ((5, 3), (1.5, None, 1.0), 0.95),
])
def test_vtrace_matches_paper_sum_form(shape, thresholds, lambda_):
  rng = np.random.default_rng(sum(shape))
  inputs = _random_trajectory(rng, shape)
  assert (inputs[1] == 0).any(), 'want a termination inside the unroll'
  clip_rho, clip_c, clip_pg = thresholds
  kwargs = dict(clip_rho_threshold=clip_rho, clip_c_threshold=clip_c,
                clip_pg_rho_threshold=clip_pg, lambda_=lambda_)
  out = returns.vtrace(*inputs, **kwargs)
  want_vs, want_pg = _np_vtrace(*inputs, **kwargs)
  assert out.vs.shape == shape and out.pg_advantages.shape == shape
  np.testing.assert_allclose(out.vs, want_vs, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(out.pg_advantages, want_pg, atol=1e-5, rtol=1e-5)


def test_vtrace_on_policy_is_discounted_return():
  rng = np.random.default_rng(0)
  _, discounts, rewards, values, bootstrap_value = _random_trajectory(rng, (6, 3))
  out = returns.vtrace(np.zeros_like(rewards), discounts, rewards, values, bootstrap_value)
  # Σ_t (Π_{i<t} γ_i) r_t + (Π_i γ_i) V(x_T), summed by hand backwards.
  want = np.zeros_like(rewards)
  acc = bootstrap_value
  for t in reversed(range(6)):
    acc = rewards[t] + discounts[t] * acc
    want[t] = acc
  np.testing.assert_allclose(out.vs, want, atol=1e-5)
  # rlax's v_t convention: values shifted by one; with λ = 1 only the last one is used.
  values_t = np.concatenate([values[1:], bootstrap_value[None]], axis=0)
  np.testing.assert_allclose(
      out.vs, returns.lambda_returns(rewards, discounts, values_t, lambda_=1.0), atol=1e-5)


def test_vtrace_on_policy_with_lambda_is_gae_return():
  rng = np.random.default_rng(1)
  _, discounts, rewards, values, bootstrap_value = _random_trajectory(rng, (8, 2))
  out = returns.vtrace(np.zeros_like(rewards), discounts, rewards, values, bootstrap_value,
                       lambda_=0.9)
  want = returns.gae(rewards, discounts, values, bootstrap_value, lambda_=0.9).returns
  np.testing.assert_allclose(out.vs, want, atol=1e-5)


def test_vtrace_matches_rlax_when_it_can():
  rng = np.random.default_rng(2)
  log_rhos, discounts, rewards, values, bootstrap_value = _random_trajectory(rng, (9,))
  out = returns.vtrace(log_rhos, discounts, rewards, values, bootstrap_value,
                       clip_rho_threshold=1.2, clip_c_threshold=1.0, clip_pg_rho_threshold=0.8)
  want = rlax.vtrace_td_error_and_advantage(
      v_tm1=jnp.asarray(values),
      v_t=jnp.concatenate([values[1:], bootstrap_value[None]]),
      r_t=jnp.asarray(rewards),
      discount_t=jnp.asarray(discounts),
      rho_tm1=jnp.exp(log_rhos),
      clip_rho_threshold=1.2,
      clip_pg_rho_threshold=0.8)
  np.testing.assert_allclose(out.vs, want.errors + values, atol=1e-5)
  np.testing.assert_allclose(out.pg_advantages, want.pg_advantage, atol=1e-5)


def test_vtrace_splits_at_termination():
  rng = np.random.default_rng(3)
  log_rhos, discounts, rewards, values, bootstrap_value = _random_trajectory(rng, (10,))
  discounts = np.full_like(discounts, 0.9)
  k = 4
  discounts[k] = 0.0
  kwargs = dict(clip_c_threshold=0.8, lambda_=0.9)
  whole = returns.vtrace(log_rhos, discounts, rewards, values, bootstrap_value, **kwargs)
  # The first half's bootstrap is multiplied by discounts[k] = 0, so any value works.
  first = returns.vtrace(log_rhos[:k + 1], discounts[:k + 1], rewards[:k + 1],
                         values[:k + 1], values[k + 1], **kwargs)
  second = returns.vtrace(log_rhos[k + 1:], discounts[k + 1:], rewards[k + 1:],
                          values[k + 1:], bootstrap_value, **kwargs)
  np.testing.assert_allclose(whole.vs[:k + 1], first.vs, atol=1e-6)
  np.testing.assert_allclose(whole.vs[k + 1:], second.vs, atol=1e-6)
  np.testing.assert_allclose(whole.pg_advantages[:k + 1], first.pg_advantages, atol=1e-6)
  np.testing.assert_allclose(whole.pg_advantages[k + 1:], second.pg_advantages, atol=1e-6)


def test_vtrace_outputs_are_targets():
  rng = np.random.default_rng(4)
  log_rhos, discounts, rewards, values, bootstrap_value = _random_trajectory(rng, (5, 2))

  def total(values, bootstrap_value):
    out = returns.vtrace(log_rhos, discounts, rewards, values, bootstrap_value)
    return out.vs.sum() + out.pg_advantages.sum()

  grads = jax.grad(total, argnums=(0, 1))(values, bootstrap_value)
  for g in grads:
    np.testing.assert_array_equal(g, 0.0)


_JIT_VTRACE_KWARGS = dict(clip_rho_threshold=1.0, clip_c_threshold=0.9,
                          clip_pg_rho_threshold=1.0, lambda_=0.95)


# Module level: chex refuses to wrap a function whose qualified name contains "vmap.".
@jax.jit
@chex.assert_max_traces(n=1)
def _jitted_vtrace(*args):
  return returns.vtrace(*args, **_JIT_VTRACE_KWARGS)


def test_vtrace_under_jit_and_vmap_matches_paper_sum_form():
  rng = np.random.default_rng(5)
  inputs = _random_trajectory(rng, (6, 4))
  kwargs = _JIT_VTRACE_KWARGS
  want_vs, want_pg = _np_vtrace(*inputs, **kwargs)
  for _ in range(2):  # the second call reuses the first trace
    got = _jitted_vtrace(*inputs)
    np.testing.assert_allclose(got.vs, want_vs, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got.pg_advantages, want_pg, atol=1e-5, rtol=1e-5)

  # vmap over the batch axis: each call then sees a [T] trajectory with no trailing dims.
  vmapped = jax.vmap(functools.partial(returns.vtrace, **kwargs),
                     in_axes=(1, 1, 1, 1, 0), out_axes=1)
  got = vmapped(*inputs)
  np.testing.assert_allclose(got.vs, want_vs, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(got.pg_advantages, want_pg, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('bad', ['discounts', 'rewards', 'values'])
def test_vtrace_rejects_mismatched_shapes(bad):
  args = dict(log_rhos=np.zeros((4, 3)), discounts=np.zeros((4, 3)), rewards=np.zeros((4, 3)),
              values=np.zeros((4, 3)), bootstrap_value=np.zeros((3,)))
  args[bad] = np.zeros((5, 3))
  with pytest.raises(ValueError, match=rf'vtrace: {bad} has shape \(5, 3\).*log_rhos'):
    returns.vtrace(**args)


def test_vtrace_rejects_bad_bootstrap_and_scalars():
  z = np.zeros((4, 3))
  with pytest.raises(ValueError, match=r'vtrace: bootstrap_value has shape \(4,\)'):
    returns.vtrace(z, z, z, z, np.zeros((4,)))
  with pytest.raises(ValueError, match='vtrace: log_rhos'):
    returns.vtrace(0.0, 0.0, 0.0, 0.0, 0.0)


# ---------------------------------------------------------------------------------------------
# n-step returns, λ-returns and GAE.


def test_n_step_returns_hand_worked():
  # values[t] = V(x_{t+1}). n = 2, λ = 1, γ = [0.9, 0.9, 0, 0.9]:
  #   G_0 = 1 + 0.9·(2 + 0.9·20) = 1 + 0.9·20 = 19
  #   G_1 = 2 + 0.9·(3 + 0·30)   = 4.7          (the episode ends after step 2)
  #   G_2 = 3 + 0·(4 + 0.9·40)   = 3
  #   G_3 = 4 + 0.9·40           = 40           (one step left: bootstrap from values[3])
  got = returns.n_step_returns([1.0, 2.0, 3.0, 4.0], [0.9, 0.9, 0.0, 0.9],
                               [10.0, 20.0, 30.0, 40.0], n=2)
  np.testing.assert_allclose(got, [19.0, 4.7, 3.0, 40.0], rtol=1e-6)


def test_n_step_returns_one_step_and_long_n():
  rng = np.random.default_rng(6)
  _, discounts, rewards, values, _ = _random_trajectory(rng, (6, 2))
  # n = 1 is one-step TD: r_t + γ_t V(x_{t+1}).
  np.testing.assert_allclose(returns.n_step_returns(rewards, discounts, values, n=1),
                             rewards + discounts * values, atol=1e-6)
  # n ≥ T mixes over the whole unroll: the truncated λ-return.
  np.testing.assert_allclose(
      returns.n_step_returns(rewards, discounts, values, n=10, lambda_=0.7),
      returns.lambda_returns(rewards, discounts, values, lambda_=0.7), atol=1e-5)


def test_lambda_returns_hand_worked():
  # values[t] = V(x_{t+1}) = [4, 6, 8], γ = 0.5, λ = 0.5:
  #   G_2 = 3 + 0.5·8                         = 7
  #   G_1 = 2 + 0.5·(0.5·6 + 0.5·7)           = 5.25
  #   G_0 = 1 + 0.5·(0.5·4 + 0.5·5.25)        = 3.3125
  got = returns.lambda_returns([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [4.0, 6.0, 8.0], lambda_=0.5)
  np.testing.assert_allclose(got, [3.3125, 5.25, 7.0], rtol=1e-6)


def test_gae_hand_worked():
  # values[t] = V(x_t) = [4, 6, 8], V(x_3) = 10, γ = [0.5, 0.5, 0], λ = 0.5:
  #   δ_0 = 2 + 0.5·6 − 4 = 1,  δ_1 = 2 + 0.5·8 − 6 = 0,  δ_2 = 3 + 0·10 − 8 = −5
  #   Â_2 = −5,  Â_1 = 0 + 0.25·(−5) = −1.25,  Â_0 = 1 + 0.25·(−1.25) = 0.6875
  #   returns = Â + V = [4.6875, 4.75, 3]
  got = returns.gae([2.0, 2.0, 3.0], [0.5, 0.5, 0.0], [4.0, 6.0, 8.0], 10.0, lambda_=0.5)
  np.testing.assert_allclose(got.advantages, [0.6875, -1.25, -5.0], rtol=1e-6)
  np.testing.assert_allclose(got.returns, [4.6875, 4.75, 3.0], rtol=1e-6)


def test_gae_returns_are_lambda_returns():
  rng = np.random.default_rng(7)
  _, discounts, rewards, values, bootstrap_value = _random_trajectory(rng, (7, 2, 3))
  got = returns.gae(rewards, discounts, values, bootstrap_value, lambda_=0.8)
  values_t = np.concatenate([values[1:], bootstrap_value[None]], axis=0)
  np.testing.assert_allclose(
      got.returns, returns.lambda_returns(rewards, discounts, values_t, lambda_=0.8),
      atol=1e-5)


_PER_COLUMN_FNS = {
    'n_step': lambda r, d, v, b: returns.n_step_returns(r, d, v, n=3, lambda_=0.9),
    'lambda': lambda r, d, v, b: returns.lambda_returns(r, d, v, lambda_=0.9),
    'gae': lambda r, d, v, b: returns.gae(r, d, v, b, lambda_=0.9),
}


@pytest.mark.parametrize('name', sorted(_PER_COLUMN_FNS))
def test_batch_dims_match_per_column(name):
  fn = _PER_COLUMN_FNS[name]
  rng = np.random.default_rng(8)
  _, discounts, rewards, values, bootstrap_value = _random_trajectory(rng, (6, 2, 3))
  got = fn(rewards, discounts, values, bootstrap_value)
  for i in range(2):
    for j in range(3):
      want = fn(rewards[:, i, j], discounts[:, i, j], values[:, i, j], bootstrap_value[i, j])
      chex.assert_trees_all_close(
          jax.tree.map(lambda x: x[:, i, j], got), want, atol=1e-6)  # pylint: disable=cell-var-from-loop
  # And under jit: the same numbers.
  chex.assert_trees_all_close(
      jax.jit(fn)(rewards, discounts, values, bootstrap_value), got, atol=1e-6)


@pytest.mark.parametrize('name', sorted(_PER_COLUMN_FNS))
def test_returns_reject_mismatched_shapes(name):
  fn_name = {'n_step': 'n_step_returns', 'lambda': 'lambda_returns', 'gae': 'gae'}[name]
  z = np.zeros((4, 3))
  with pytest.raises(ValueError, match=rf'{fn_name}: values has shape \(4, 2\)'):
    _PER_COLUMN_FNS[name](z, z, np.zeros((4, 2)), np.zeros((3,)))
  with pytest.raises(ValueError, match=rf'{fn_name}: discounts has shape \(3, 3\)'):
    _PER_COLUMN_FNS[name](z, np.zeros((3, 3)), z, np.zeros((3,)))


def test_gae_rejects_bad_bootstrap_and_n_step_rejects_bad_n():
  z = np.zeros((4, 3))
  with pytest.raises(ValueError, match='gae: bootstrap_value'):
    returns.gae(z, z, z, np.zeros((4,)), lambda_=0.9)
  with pytest.raises(ValueError, match='n_step_returns: n'):
    returns.n_step_returns(z, z, z, n=0)
  with pytest.raises(ValueError, match='n_step_returns: n'):
    returns.n_step_returns(z, z, z, n=2.5)
