"""The predictron's preturns (Silver et al. 2017, §3), as pure functions of the core's
outputs over K planning steps.

Inputs, for predictions of shape ``[...]`` (batch and targets):
  rewards    ``[K, ...]``  r^1 .. r^K
  discounts  ``[K, ...]``  γ^1 .. γ^K
  lambdas    ``[K, ...]``  λ^0 .. λ^{K−1}
  values     ``[K + 1, ...]``  v^0 .. v^K

  k-step preturn   g^k = r^1 + γ^1 (r^2 + … + γ^{k−1} (r^k + γ^k v^k)),  g^0 = v^0
  λ-weights        w^k = (1 − λ^k) Π_{j<k} λ^j  (k < K),   w^K = Π_{j<K} λ^j
  λ-preturn        g^λ = Σ_k w^k g^k, computed backward as
                   g^{K,λ} = v^K,  g^{k,λ} = (1 − λ^k) v^k + λ^k (r^{k+1} + γ^{k+1} g^{k+1,λ})
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Preturns(NamedTuple):
  k_step: jax.Array     # [K + 1, ...] g^0 .. g^K
  lambda_: jax.Array    # [...] g^λ
  weights: jax.Array    # [K + 1, ...] w^0 .. w^K (sum to 1)


def k_step_preturns(rewards, discounts, values) -> jax.Array:
  """``[K + 1, ...]`` g^0 .. g^K: the discounted rewards of the first k steps plus the
  discounted value of step k."""
  # Π_{i<=j} γ^i for j = 0..K (the empty product first).
  cumulative = jnp.concatenate([jnp.ones_like(discounts[:1]), jnp.cumprod(discounts, 0)])
  discounted_rewards = jnp.concatenate(
      [jnp.zeros_like(rewards[:1]), jnp.cumsum(cumulative[:-1] * rewards, 0)])
  return discounted_rewards + cumulative * values


def lambda_weights(lambdas) -> jax.Array:
  """``[K + 1, ...]`` w^0 .. w^K: how much each k-step preturn counts in g^λ."""
  reach = jnp.concatenate([jnp.ones_like(lambdas[:1]), jnp.cumprod(lambdas, 0)])  # Π_{j<k}
  return jnp.concatenate([(1.0 - lambdas) * reach[:-1], reach[-1:]])


def lambda_preturn(rewards, discounts, lambdas, values) -> jax.Array:
  """g^λ by the backward recursion (one pass, no K×K sums)."""

  def step(g_next, xs):
    reward, discount, lambda_k, value = xs
    return (1.0 - lambda_k) * value + lambda_k * (reward + discount * g_next), None

  g, _ = jax.lax.scan(step, values[-1], (rewards, discounts, lambdas, values[:-1]),
                      reverse=True)
  return g


def preturns(rewards, discounts, lambdas, values) -> Preturns:
  """Every k-step preturn, the λ-preturn and the λ-weights (see the module docstring)."""
  num_steps = rewards.shape[0]
  for name, x, expected in (('discounts', discounts, num_steps),
                            ('lambdas', lambdas, num_steps),
                            ('values', values, num_steps + 1)):
    if x.shape[0] != expected or x.shape[1:] != rewards.shape[1:]:
      raise ValueError(f'preturns: {name} must be [{expected}, ...] with the rewards\' '
                       f'trailing shape {rewards.shape[1:]}, got {x.shape}')
  return Preturns(k_step_preturns(rewards, discounts, values),
                  lambda_preturn(rewards, discounts, lambdas, values),
                  lambda_weights(lambdas))
