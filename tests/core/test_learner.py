"""The learner contract: the default step is one optimiser step on the loss's gradient."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from core import learner as learner_lib


def _loss(params, batch, key):
  noise = jax.random.normal(key, batch.shape)
  error = params['w'] * batch + params['b'] + 0.0 * noise - 2.0 * batch
  return jnp.mean(error ** 2), {'loss': jnp.mean(error ** 2), 'noise': jnp.mean(noise)}


def test_default_step_is_one_optimiser_step():
  optimizer = optax.sgd(0.1)
  learner = learner_lib.make_learner(_loss, optimizer)
  params = {'w': jnp.asarray(0.5), 'b': jnp.asarray(0.1)}
  batch = jnp.asarray([1.0, 2.0, 3.0])
  state = learner.init(params)
  new_state, metrics = jax.jit(learner.step)(state, batch, jax.random.PRNGKey(3))
  # By hand: d/dw mean((w x + b - 2x)^2) = mean(2 (w x + b - 2x) x), d/db likewise.
  error = 0.5 * np.array([1., 2., 3.]) + 0.1 - 2 * np.array([1., 2., 3.])
  grad_w, grad_b = np.mean(2 * error * [1., 2., 3.]), np.mean(2 * error)
  np.testing.assert_allclose(new_state.params['w'], 0.5 - 0.1 * grad_w, rtol=1e-6)
  np.testing.assert_allclose(new_state.params['b'], 0.1 - 0.1 * grad_b, rtol=1e-6)
  np.testing.assert_allclose(metrics['grad_norm'], np.hypot(grad_w, grad_b), rtol=1e-6)
  assert int(new_state.update) == 1
  # The key reaches the loss.
  want_noise = jnp.mean(jax.random.normal(jax.random.PRNGKey(3), (3,)))
  np.testing.assert_allclose(metrics['noise'], want_noise, rtol=1e-6)


def test_learner_for_prefers_the_models_own_learner():
  calls = []

  def make_own(optimizer):
    calls.append(optimizer)
    base = learner_lib.make_learner(_loss, optimizer)

    def step(state, batch, key):
      state, metrics = base.step(state, batch, key)
      # A target copy of the parameters, kept as extra state.
      return state._replace(extra=state.params), metrics

    return learner_lib.Learner(
        init=lambda p: base.init(p)._replace(extra=p), step=step)

  class Model:
    loss = staticmethod(_loss)
    make_learner = staticmethod(make_own)

  optimizer = optax.sgd(0.1)
  learner = learner_lib.learner_for(Model, optimizer)
  assert calls == [optimizer]
  state = learner.init({'w': jnp.asarray(0.5), 'b': jnp.asarray(0.0)})
  state, _ = learner.step(state, jnp.ones(3), jax.random.PRNGKey(0))
  chex.assert_trees_all_equal(state.extra, state.params)


def test_step_compiles_once_per_shape():
  learner = learner_lib.make_learner(_loss, optax.adam(1e-3))
  step = jax.jit(chex.assert_max_traces(learner.step, n=1))
  state = learner.init({'w': jnp.float32(0.5), 'b': jnp.float32(0.0)})
  for i in range(3):
    state, _ = step(state, jnp.ones(3) * i, jax.random.PRNGKey(i))
  assert int(state.update) == 3
