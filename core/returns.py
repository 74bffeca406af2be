"""Multi-step return targets: V-trace, n-step returns, λ-returns and GAE.

Every function here is time-major: per-step inputs are ``[T, ...]`` with any number of
trailing batch dims (including none), and bootstrap values are ``[...]`` (the trailing dims
alone). ``discounts[t]`` multiplies the value of ``x_{t+1}``: it already includes γ and is 0
where the transition ``x_t -> x_{t+1}`` ended the episode (see ``core.types``).

Two value conventions appear, and each function's docstring says which it uses:

  * ``values[t] = V(x_t)``, the value of the state the transition *starts* from, with a
    separate ``bootstrap_value = V(x_T)`` (``vtrace``, ``gae``; IMPALA's notation);
  * ``values[t] = V(x_{t+1})``, the value of the state *after* transition ``t`` (``v_t`` in
    rlax's notation; ``n_step_returns``, ``lambda_returns``).

n-step returns, λ-returns and GAE wrap the one-trajectory functions of ``rlax`` and vmap them
over the trailing dims; V-trace is written here (see ``vtrace`` for why).
"""

import math
import operator
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import rlax

Array = jax.Array


class VTraceReturns(NamedTuple):
  """V-trace targets, both ``[T, ...]``.

  Attributes:
    vs: the V-trace value targets ``v_s`` (regress ``V(x_s)`` towards them).
    pg_advantages: ``ρ̃_s (r_s + γ_s v_{s+1} − V(x_s))``, the policy-gradient advantages.
  """
  vs: Array
  pg_advantages: Array


class GaeReturns(NamedTuple):
  """Generalised advantage estimates, both ``[T, ...]``.

  Attributes:
    advantages: ``Â_t = Σ_{k≥0} (Π_{i<k} γ_{t+i} λ) δ_{t+k}`` truncated at ``T``.
    returns: ``advantages + values``, the matching TD(λ) value targets.
  """
  advantages: Array
  returns: Array


def _as_float32(x) -> Array:
  return jnp.asarray(x, dtype=jnp.float32)


def _check_same_shape(fn_name: str, ref_name: str, ref: Array, **others: Array) -> None:
  """Raises ``ValueError`` unless every array in ``others`` has ``ref``'s ``[T, ...]`` shape."""
  if ref.ndim < 1:
    raise ValueError(
        f'{fn_name}: {ref_name} has shape {ref.shape}; expected a time-major [T, ...] '
        'array with at least one (time) dimension')
  for name, x in others.items():
    if x.shape != ref.shape:
      raise ValueError(
          f'{fn_name}: {name} has shape {x.shape} but {ref_name} has shape {ref.shape}; '
          'expected the same [T, ...] shape')


def _check_bootstrap(fn_name: str, ref_name: str, ref: Array, bootstrap_value: Array) -> None:
  """Raises ``ValueError`` unless ``bootstrap_value`` has ``ref``'s trailing dims."""
  if bootstrap_value.shape != ref.shape[1:]:
    raise ValueError(
        f'{fn_name}: bootstrap_value has shape {bootstrap_value.shape} but {ref_name} has '
        f'shape {ref.shape}; expected {ref.shape[1:]}, the trailing [...] dims of '
        f'{ref_name} without time')


def _vmap_over_trailing(fn: Callable[..., Array], *arrays: Array) -> Array:
  """Applies a one-trajectory function to every column of time-major arrays.

  Args:
    fn: maps 1-D arrays (each ``[T_i]``; leading lengths may differ, e.g. ``[T + 1]``
      values) to one ``[T_out]`` array.
    *arrays: ``[T_i, ...]`` arrays sharing the same trailing dims ``[...]``.

  Returns:
    ``[T_out, ...]``: ``fn`` applied to each trailing index.
  """
  batch_shape = arrays[0].shape[1:]
  # An explicit column count (not -1) keeps reshapes of empty batches unambiguous.
  num_columns = math.prod(batch_shape)
  flat = [x.reshape(x.shape[0], num_columns) for x in arrays]
  out = jax.vmap(fn, in_axes=1, out_axes=1)(*flat)
  return out.reshape(out.shape[:1] + batch_shape)


def _mask_reset_steps(mask, rewards, discounts, own_values):
  """Rewrites masked steps (``core.types.valid_steps`` False: a truncated episode's reset
  step) so that their return is their own observation's value: reward ``V(x_t)``,
  discount 0. The step before then bootstraps from that value, exactly as from a
  final observation, and no return crosses into the next episode."""
  mask = jnp.asarray(mask)
  _check_same_shape('mask', 'rewards', rewards, mask=mask)
  rewards = jnp.where(mask, rewards, jax.lax.stop_gradient(own_values))
  return rewards, jnp.where(mask, discounts, 0.0)


def _values_of_own_observation(values):
  """``V(x_t)`` from rlax-convention ``values[t] = V(x_{t+1})`` (0 at t = 0, where a
  masked step has no earlier step whose return would read it)."""
  return jnp.concatenate([jnp.zeros_like(values[:1]), values[:-1]], axis=0)


def vtrace(
    log_rhos: Array,
    discounts: Array,
    rewards: Array,
    values: Array,
    bootstrap_value: Array,
    *,
    clip_rho_threshold: Optional[float] = 1.0,
    clip_c_threshold: Optional[float] = 1.0,
    clip_pg_rho_threshold: Optional[float] = 1.0,
    lambda_: float = 1.0,
    mask: Optional[Array] = None,
) -> VTraceReturns:
  """V-trace value targets and policy-gradient advantages.

  Implements Espeholt et al., "IMPALA", ICML 2018 (https://arxiv.org/abs/1802.01561), Sec. 4,
  with per-step discounts ``γ_t = discounts[t]``:

    ρ_t = min(ρ̄, π/μ),  c_t = λ min(c̄, π/μ),  δ_t = ρ_t (r_t + γ_t V(x_{t+1}) − V(x_t)),
    v_s − V(x_s) = δ_s + γ_s c_s (v_{s+1} − V(x_{s+1})),  v_T = V(x_T) = bootstrap_value,
    pg_advantages_s = ρ̃_s (r_s + γ_s v_{s+1} − V(x_s)),  ρ̃_s = min(ρ̄_pg, π/μ).

  Both outputs are wrapped in ``jax.lax.stop_gradient``: they are targets. Computed in
  float32.

  Args:
    log_rhos: ``[T, ...]`` ``log π(a_t|x_t) − log μ(a_t|x_t)`` (target minus behaviour).
    discounts: ``[T, ...]`` ``γ_t``, multiplying the value of ``x_{t+1}``; 0 at termination.
    rewards: ``[T, ...]`` ``r_t`` for the transition ``x_t -> x_{t+1}``.
    values: ``[T, ...]`` ``V(x_t)``.
    bootstrap_value: ``[...]`` ``V(x_T)``.
    clip_rho_threshold: ``ρ̄``; ``None`` for no clipping.
    clip_c_threshold: ``c̄``; ``None`` for no clipping.
    clip_pg_rho_threshold: ``ρ̄_pg``; ``None`` for no clipping.
    lambda_: scalar ``λ`` scaling every trace coefficient ``c_t`` (the paper's Remark 2).
    mask: optional ``[T, ...]`` bool, False at steps that are not transitions of the
      acting policy (``core.types.valid_steps``: a truncated episode's reset step). There
      ``ρ_t = c_t = ρ̃_t = 0``, so ``v_t = V(x_t)``, the advantage is 0 and no trace
      crosses the step.

  Returns:
    ``VTraceReturns(vs, pg_advantages)``, both ``[T, ...]`` float32.

  Raises:
    ValueError: if the per-step inputs do not share one ``[T, ...]`` shape, or
      ``bootstrap_value`` is not ``[...]``.
  """
  log_rhos, discounts, rewards, values, bootstrap_value = map(
      _as_float32, (log_rhos, discounts, rewards, values, bootstrap_value))
  _check_same_shape('vtrace', 'log_rhos', log_rhos,
                    discounts=discounts, rewards=rewards, values=values)
  _check_bootstrap('vtrace', 'log_rhos', log_rhos, bootstrap_value)

  # Written here rather than wrapping rlax: rlax.vtrace fixes c_t = λ min(1, π/μ), so c̄ ≠ 1
  # is unavailable, and rlax.vtrace_td_error_and_advantage bootstraps the policy-gradient
  # advantage with λ v_{s+1} + (1 − λ) V(x_{s+1}) instead of the paper's v_{s+1} when λ < 1.
  rhos = jnp.exp(log_rhos)
  if mask is not None:
    mask = jnp.asarray(mask)
    _check_same_shape('vtrace', 'log_rhos', log_rhos, mask=mask)
    rhos = jnp.where(mask, rhos, 0.0)

  def clip(threshold):
    return rhos if threshold is None else jnp.minimum(threshold, rhos)

  clipped_rhos = clip(clip_rho_threshold)
  cs = lambda_ * clip(clip_c_threshold)
  clipped_pg_rhos = clip(clip_pg_rho_threshold)

  values_tp1 = jnp.concatenate([values[1:], bootstrap_value[None]], axis=0)
  deltas = clipped_rhos * (rewards + discounts * values_tp1 - values)

  def step(vs_minus_v_tp1, xs):
    delta_t, discount_t, c_t = xs
    vs_minus_v_t = delta_t + discount_t * c_t * vs_minus_v_tp1
    return vs_minus_v_t, vs_minus_v_t

  # v_T − V(x_T) = 0: the recursion starts from the bootstrap value itself.
  _, vs_minus_v = jax.lax.scan(
      step, jnp.zeros_like(bootstrap_value), (deltas, discounts, cs), reverse=True)
  vs = values + vs_minus_v

  vs_tp1 = jnp.concatenate([vs[1:], bootstrap_value[None]], axis=0)
  pg_advantages = clipped_pg_rhos * (rewards + discounts * vs_tp1 - values)
  return VTraceReturns(
      vs=jax.lax.stop_gradient(vs),
      pg_advantages=jax.lax.stop_gradient(pg_advantages))


def n_step_returns(
    rewards: Array,
    discounts: Array,
    values: Array,
    *,
    n: int,
    lambda_: float = 1.0,
    mask: Optional[Array] = None,
) -> Array:
  """Strided n-step bootstrapped (optionally λ-mixed) returns.

  Wraps ``rlax.n_step_bootstrapped_returns``. With ``λ = 1``,

    G_t = r_t + γ_t (r_{t+1} + γ_{t+1} (… (r_{t+n−1} + γ_{t+n−1} values[t+n−1]))),

  where ``values[t] = V(x_{t+1})`` is the value of the state *after* transition ``t``
  (rlax's ``v_t``; note the shift relative to ``vtrace`` and ``gae``). Near the end of the
  unroll fewer than ``n`` steps remain and the return bootstraps from ``values[T − 1]``.
  With ``λ < 1`` each step mixes ``(1 − λ) values[t] + λ G_{t+1}``. Gradients flow through
  the result; wrap it in ``jax.lax.stop_gradient`` to use it as a fixed target.

  Args:
    rewards: ``[T, ...]`` ``r_t`` for the transition ``x_t -> x_{t+1}``.
    discounts: ``[T, ...]`` ``γ_t``, multiplying ``values[t]``; 0 at termination.
    values: ``[T, ...]`` ``V(x_{t+1})``.
    n: number of rewards accumulated before bootstrapping; a Python int ≥ 1 (static
      under ``jax.jit``).
    lambda_: scalar mixing parameter ``λ``.
    mask: optional ``[T, ...]`` bool, False at reset steps (``core.types.valid_steps``);
      there the return is the step's own value and earlier steps bootstrap from it.

  Returns:
    ``[T, ...]`` float32 returns ``G_t``.

  Raises:
    ValueError: on mismatched shapes or ``n < 1``.
  """
  try:
    n = operator.index(n)
  except TypeError:
    raise ValueError(f'n_step_returns: n must be a Python int, got {n!r}') from None
  if n < 1:
    raise ValueError(f'n_step_returns: n must be at least 1, got {n}')
  rewards, discounts, values = map(_as_float32, (rewards, discounts, values))
  _check_same_shape('n_step_returns', 'rewards', rewards, discounts=discounts, values=values)
  if mask is not None:
    rewards, discounts = _mask_reset_steps(mask, rewards, discounts,
                                           _values_of_own_observation(values))
  return _vmap_over_trailing(
      lambda r_t, discount_t, v_t: rlax.n_step_bootstrapped_returns(
          r_t, discount_t, v_t, n=n, lambda_t=lambda_),
      rewards, discounts, values)


def lambda_returns(
    rewards: Array,
    discounts: Array,
    values: Array,
    *,
    lambda_: float = 1.0,
    mask: Optional[Array] = None,
) -> Array:
  """λ-returns truncated at the end of the unroll.

  Wraps ``rlax.lambda_returns`` (Sutton & Barto, Sec. 12.1):

    G_t = r_t + γ_t ((1 − λ) values[t] + λ G_{t+1}),  G_{T−1} = r_{T−1} + γ_{T−1} values[T−1],

  where ``values[t] = V(x_{t+1})`` is the value of the state *after* transition ``t``
  (rlax's ``v_t``; note the shift relative to ``vtrace`` and ``gae``). Gradients flow through
  the result; wrap it in ``jax.lax.stop_gradient`` to use it as a fixed target.

  Args:
    rewards: ``[T, ...]`` ``r_t`` for the transition ``x_t -> x_{t+1}``.
    discounts: ``[T, ...]`` ``γ_t``, multiplying ``values[t]``; 0 at termination.
    values: ``[T, ...]`` ``V(x_{t+1})``.
    lambda_: scalar mixing parameter ``λ``.
    mask: optional ``[T, ...]`` bool, False at reset steps (``core.types.valid_steps``);
      there the return is the step's own value and earlier steps bootstrap from it.

  Returns:
    ``[T, ...]`` float32 returns ``G_t``.

  Raises:
    ValueError: on mismatched shapes.
  """
  rewards, discounts, values = map(_as_float32, (rewards, discounts, values))
  _check_same_shape('lambda_returns', 'rewards', rewards, discounts=discounts, values=values)
  if mask is not None:
    rewards, discounts = _mask_reset_steps(mask, rewards, discounts,
                                           _values_of_own_observation(values))
  return _vmap_over_trailing(
      lambda r_t, discount_t, v_t: rlax.lambda_returns(r_t, discount_t, v_t, lambda_=lambda_),
      rewards, discounts, values)


def gae(
    rewards: Array,
    discounts: Array,
    values: Array,
    bootstrap_value: Array,
    *,
    lambda_: float,
    mask: Optional[Array] = None,
) -> GaeReturns:
  """Truncated generalised advantage estimation.

  Wraps ``rlax.truncated_generalized_advantage_estimation`` (Schulman et al., 2016,
  https://arxiv.org/abs/1506.02438):

    δ_t = r_t + γ_t V(x_{t+1}) − V(x_t),  Â_t = δ_t + γ_t λ Â_{t+1},  Â_T = 0,

  with ``values[t] = V(x_t)`` and ``bootstrap_value = V(x_T)``, as in ``vtrace``. The returns
  ``Â_t + V(x_t)`` equal the λ-returns. Gradients flow through the result; wrap it in
  ``jax.lax.stop_gradient`` to use it as a fixed target.

  Args:
    rewards: ``[T, ...]`` ``r_t`` for the transition ``x_t -> x_{t+1}``.
    discounts: ``[T, ...]`` ``γ_t``, multiplying the value of ``x_{t+1}``; 0 at termination.
    values: ``[T, ...]`` ``V(x_t)``.
    bootstrap_value: ``[...]`` ``V(x_T)``.
    lambda_: scalar mixing parameter ``λ``.
    mask: optional ``[T, ...]`` bool, False at reset steps (``core.types.valid_steps``);
      there the advantage is 0, the return the step's own value, and earlier steps
      bootstrap from it.

  Returns:
    ``GaeReturns(advantages, returns)``, both ``[T, ...]`` float32.

  Raises:
    ValueError: on mismatched shapes.
  """
  rewards, discounts, values, bootstrap_value = map(
      _as_float32, (rewards, discounts, values, bootstrap_value))
  _check_same_shape('gae', 'rewards', rewards, discounts=discounts, values=values)
  _check_bootstrap('gae', 'rewards', rewards, bootstrap_value)
  if mask is not None:
    rewards, discounts = _mask_reset_steps(mask, rewards, discounts, values)
  # rlax takes the T + 1 values V(x_0) .. V(x_T) as one array.
  all_values = jnp.concatenate([values, bootstrap_value[None]], axis=0)
  advantages = _vmap_over_trailing(
      lambda r_t, discount_t, v: rlax.truncated_generalized_advantage_estimation(
          r_t, discount_t, lambda_, v),
      rewards, discounts, all_values)
  return GaeReturns(advantages=advantages, returns=advantages + values)
