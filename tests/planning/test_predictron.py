"""The predictron model: its variants, losses, consistency updates and learning."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from core import model as model_lib
from planning import predictron


class Batch(NamedTuple):
  inputs: jax.Array
  targets: jax.Array


def _batch(key, batch_size=8, size=6, outputs=3):
  inputs = jax.random.uniform(key, (batch_size, size, size, 2))
  # Targets a convolutional net can learn: the mean of each input channel and their sum.
  means = inputs.mean(axis=(1, 2))
  return Batch(inputs, jnp.concatenate([means, means.sum(-1, keepdims=True)], -1)[:, :outputs])


@pytest.mark.parametrize('kwargs', [
    {}, {'shared_core': False}, {'learn_reward_discount': False},
    {'learn_lambda': False}, {'usage_weighting': False}])
def test_variants_give_finite_losses_and_metrics(kwargs):
  model = predictron.make_model(outputs=3, depth=3, **kwargs)
  batch = _batch(jax.random.PRNGKey(0))
  params = model.init(jax.random.PRNGKey(1), batch)
  loss, metrics = jax.jit(model.loss)(params, batch, None)
  assert np.isfinite(float(loss))
  assert {'rmse_lambda', 'rmse_g0', 'rmse_g3', 'lambda_0', 'lambda_2'} <= set(metrics)
  if kwargs.get('learn_lambda') is False:
    assert float(metrics['lambda_1']) == 1.0


def test_unshared_core_has_a_core_per_step():
  shared = predictron.make_model(outputs=3, depth=3)
  unshared = predictron.make_model(outputs=3, depth=3, shared_core=False)
  batch = _batch(jax.random.PRNGKey(0))
  count = lambda m: sum(x.size for x in jax.tree.leaves(m.init(jax.random.PRNGKey(1), batch)))
  names = set(unshared.init(jax.random.PRNGKey(1), batch)['params'])
  assert {'cores_0', 'cores_1', 'cores_2'} <= names
  assert count(unshared) > count(shared)


def test_learns_and_consistency_updates_run():
  batch_key, init_key = jax.random.split(jax.random.PRNGKey(0))
  model = predictron.make_model(outputs=3, depth=2, consistency_updates=2)
  params = model.init(init_key, _batch(batch_key))
  learner = model.make_learner(optax.adam(3e-3))
  state = learner.init(params)
  source = model_lib.with_unlabelled(
      model_lib.stateless(lambda k: _batch(k), batch_size=8), 2)
  step = jax.jit(learner.step)
  first = None
  for i in range(150):
    batch = source.sample((), jax.random.fold_in(batch_key, i))
    state, metrics = step(state, batch, None)
    first = first if first is not None else float(metrics['rmse_lambda'])
  assert int(state.update) == 150 and np.isfinite(float(metrics['consistency_loss']))
  assert float(metrics['rmse_lambda']) < 0.5 * first


def test_rejects_bad_sizes():
  with pytest.raises(ValueError, match='depth must be an integer >= 1'):
    predictron.make_model(outputs=3, depth=0)


def test_adaptive_depth_equals_the_full_preturn_at_threshold_zero_and_stops_early():
  model_kwargs = dict(outputs=3, depth=4)
  net = predictron.PredictronNet(3, 4)
  batch = _batch(jax.random.PRNGKey(0))
  params = predictron.make_model(**model_kwargs).init(jax.random.PRNGKey(1), batch)
  full = predictron.preturns_lib.preturns(*net.apply(params, batch.inputs))
  adaptive = jax.jit(predictron.adaptive_lambda_preturn, static_argnums=0)
  every_step = adaptive(net, params, batch.inputs, 0.0)
  np.testing.assert_allclose(every_step.lambda_, full.lambda_, rtol=1e-5, atol=1e-6)
  assert every_step.depth.tolist() == [4] * 8
  # Stopping where the weight left falls below a threshold: the depth is the first k with
  # max Π_{j<k} λ^j < threshold, and g^λ gives that k-step preturn the weight left.
  threshold = float(jnp.median(jnp.max(full.weights[2:].sum(0), -1)))
  early = adaptive(net, params, batch.inputs, threshold)
  reach = np.concatenate([np.ones((1, 8, 3)), np.cumprod(np.asarray(
      net.apply(params, batch.inputs).lambdas), 0)])
  expected_depth = [next((k for k in range(1, 5) if reach[k, b].max() < threshold), 4)
                    for b in range(8)]
  assert early.depth.tolist() == expected_depth and min(expected_depth) < 4
  for b, k in enumerate(expected_depth):
    weights = np.concatenate([np.asarray(full.weights[:k, b]), reach[k:k + 1, b]])
    np.testing.assert_allclose(early.lambda_[b], np.sum(weights * np.asarray(
        full.k_step[:k + 1, b]), 0), rtol=1e-5, atol=1e-6)


def test_adaptive_depth_needs_a_shared_core():
  with pytest.raises(ValueError, match='shared core'):
    predictron.adaptive_lambda_preturn(predictron.PredictronNet(3, 2, shared_core=False),
                                       {}, jnp.zeros((1, 4, 4, 2)), 0.1)


def test_adaptive_depth_report_matches_the_full_preturn_at_threshold_zero():
  net = predictron.make_net(outputs=3, depth=3)
  batches = [_batch(jax.random.PRNGKey(k), batch_size=4) for k in range(2)]
  params = net.init(jax.random.PRNGKey(1), batches[0].inputs)
  report = predictron.adaptive_depth_report(net, params, batches, (0.0, 2.0))
  full = jnp.concatenate([predictron.preturns_lib.preturns(*net.apply(params, b.inputs))
                          .lambda_ for b in batches])
  targets = jnp.concatenate([b.targets for b in batches])
  expected = float(jnp.sqrt(jnp.mean(jnp.square(full - targets))))
  assert report.thresholds == (0.0, 2.0)
  assert report.mean_depth == (3.0, 0.0)   # every step; none (g^0 = v^0)
  np.testing.assert_allclose([report.rmse[0], report.full_rmse], expected, rtol=1e-5)
  v0 = jnp.concatenate([net.apply(params, b.inputs).values[0] for b in batches])
  np.testing.assert_allclose(report.rmse[1], jnp.sqrt(jnp.mean(jnp.square(v0 - targets))),
                             rtol=1e-5)


def test_conv_layer_equals_xlas_convolution_values_and_gradients():
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 3))
  layers = {impl: predictron.ConvNorm(implementation=impl) for impl in ('standard', 'matmul')}
  params = layers['standard'].init(jax.random.PRNGKey(1), x)
  outputs, grads = {}, {}
  for impl, layer in layers.items():
    loss = lambda p, layer=layer: jnp.sum(layer.apply(p, x) ** 2)
    outputs[impl], grads[impl] = jax.value_and_grad(loss)(params)
  np.testing.assert_allclose(outputs['matmul'], outputs['standard'], rtol=1e-4)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4),
               grads['matmul'], grads['standard'])
