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
  assert {'core_0', 'core_1', 'core_2'} <= names
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
