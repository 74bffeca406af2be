"""The predictron's preturns against a direct evaluation of the paper's sums."""

import numpy as np
import pytest

from planning import preturns


def _random(seed, depth=5, shape=(3, 2)):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(depth,) + shape), rng.uniform(size=(depth,) + shape),
          rng.uniform(size=(depth,) + shape), rng.normal(size=(depth + 1,) + shape))


def _direct(rewards, discounts, lambdas, values):
  """The sums written out: g^k = r^1 + γ^1 (r^2 + … + γ^{k−1} (r^k + γ^k v^k)); w^k."""
  depth = rewards.shape[0]
  g = []
  for k in range(depth + 1):
    total = values[k]
    for j in reversed(range(k)):          # r^{j+1} + γ^{j+1} (…)
      total = rewards[j] + discounts[j] * total
    g.append(total)
  weights = []
  for k in range(depth + 1):
    reach = np.prod(lambdas[:k], axis=0) if k else np.ones_like(values[0])
    weights.append(reach * (1 - lambdas[k]) if k < depth else reach)
  g, weights = np.stack(g), np.stack(weights)
  return g, np.sum(weights * g, axis=0), weights


@pytest.mark.parametrize('seed', [0, 1])
def test_preturns_equal_the_direct_sums(seed):
  inputs = _random(seed)
  g, g_lambda, weights = _direct(*inputs)
  got = preturns.preturns(*inputs)
  np.testing.assert_allclose(got.k_step, g, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got.lambda_, g_lambda, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got.weights, weights, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.sum(got.weights, 0), 1.0, rtol=1e-5)


def test_fixed_lambda_and_reward_cases():
  rewards, discounts, lambdas, values = _random(2)
  # λ = 1: g^λ is the K-step preturn; r = 0, γ = 1: g^k = v^k.
  got = preturns.preturns(rewards, discounts, np.ones_like(lambdas), values)
  np.testing.assert_allclose(got.lambda_, got.k_step[-1], rtol=1e-5)
  got = preturns.preturns(np.zeros_like(rewards), np.ones_like(discounts), lambdas, values)
  np.testing.assert_allclose(got.k_step, values, rtol=1e-6)


def test_shape_errors_name_the_input():
  rewards, discounts, lambdas, values = _random(3)
  with pytest.raises(ValueError, match='values must be'):
    preturns.preturns(rewards, discounts, lambdas, values[:-1])
