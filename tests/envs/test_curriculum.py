"""The exponential curriculum: h doubles exactly when the smoothed error falls below the
threshold, never past max_level, and the whole loop is one jitted program."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from core import learner as learner_lib
from core import model as model_lib
from core.runtime import supervised
from envs import curriculum
from envs import task_registry


def _run_updates(source, errors):
  """The states after each update on ``errors``, in one jitted scan."""

  def step(state, error):
    state = source.update(state, {'bit_errors_per_sequence': error, 'loss': 7.0})
    return state, state

  _, states = jax.jit(lambda errors: jax.lax.scan(step, source.init(), errors))(
      jnp.asarray(errors, jnp.float32))
  return jax.device_get(states)


def _reference(errors, *, initial_level, max_level, threshold, decay, min_updates):
  """The levels and estimates, from the bias-corrected average written out in numpy."""
  level, history, levels, estimates = initial_level, [], [], []
  for x in errors:
    history.append(x)
    n = len(history)
    weights = (1 - decay) * decay ** np.arange(n - 1, -1, -1)
    estimate = float(np.dot(weights, history) / (1 - decay ** n))
    if estimate < threshold and n >= min_updates and level < max_level:
      level, history, estimate = min(2 * level, max_level), [], 0.0
    levels.append(level)
    estimates.append(estimate)
  return levels, estimates


def test_level_doubles_exactly_when_the_smoothed_error_drops_below_the_threshold():
  source = curriculum.make_copy(batch_size=2, bits=2, initial_level=1, max_level=12,
                                threshold=1.0, decay=0.5, min_updates=1)
  # Smoothed: 4, 3.33, 1.43, 0.67 (advance); 2, 1.07, 0.8 (advance); then 0 each time.
  errors = [4, 3, 0, 0, 2, 0.6, 0.6, 0, 0, 0, 0]
  states = _run_updates(source, errors)
  np.testing.assert_array_equal(states.level, [1, 1, 1, 2, 2, 2, 4, 8, 12, 12, 12])
  levels, estimates = _reference(errors, initial_level=1, max_level=12, threshold=1.0,
                                 decay=0.5, min_updates=1)
  np.testing.assert_array_equal(states.level, levels)
  np.testing.assert_allclose(states.error, estimates, rtol=1e-5, atol=1e-6)
  # At the cap the average keeps running instead of resetting.
  np.testing.assert_array_equal(states.updates[-3:], [0, 1, 2])
  assert states.level.dtype == np.int32 and states.error.dtype == np.float32


def test_min_updates_holds_a_level_and_a_noisy_error_is_smoothed():
  source = curriculum.make_copy(batch_size=2, bits=2, initial_level=2, max_level=64,
                                threshold=1.0, decay=0.9, min_updates=3)
  errors = [0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0]
  states = _run_updates(source, errors)
  levels, _ = _reference(errors, initial_level=2, max_level=64, threshold=1.0, decay=0.9,
                         min_updates=3)
  np.testing.assert_array_equal(states.level, levels)
  # One bad batch (5 errors) first at a fresh level holds it for 5 updates, not 3:
  # smoothed 5, 2.37, 1.49, 1.06, 0.80.
  np.testing.assert_array_equal(states.level, [2, 2, 4, 4, 4, 8, 8, 8, 8, 8, 16, 16])


def test_lengths_are_drawn_up_to_the_level_without_retracing():
  source = curriculum.make_copy(batch_size=512, bits=2, initial_level=1, max_level=16,
                                threshold=1.0)
  sample = jax.jit(chex.assert_max_traces(source.sample, n=1))
  key = jax.random.PRNGKey(0)
  for level in (1, 4, 16):
    state = source.init()._replace(level=jnp.asarray(level, jnp.int32))
    batch = sample(state, key)
    assert batch.inputs.shape == (33, 512, 3)      # T is fixed by max_level
    lengths = np.asarray(batch.mask).sum(0).astype(int)
    assert set(lengths) == set(range(1, level + 1))
  assert source.init().level == 1


def test_recall_and_sort_curricula_respect_their_tasks():
  recall = task_registry.make('associative_recall_curriculum', batch_size=256, bits=3,
                              item_length=2, initial_level=2, max_level=6, threshold=1.0)
  state = recall.init()
  batch = recall.sample(state._replace(level=jnp.asarray(4)), jax.random.PRNGKey(1))
  assert batch.inputs.shape == (24, 256, 5)
  items = np.asarray(batch.inputs)[:, :, 3].sum(0).astype(int)
  assert set(items) == {2, 3, 4}                   # a query needs a successor: >= 2 items

  sort = task_registry.make('priority_sort_curriculum', batch_size=256, bits=3,
                            num_outputs=3, initial_level=1, max_level=8, threshold=1.0)
  batch = sort.sample(sort.init()._replace(level=jnp.asarray(5)), jax.random.PRNGKey(2))
  assert batch.inputs.shape == (12, 256, 5)
  lengths = np.asarray(batch.inputs)[:, :, 4].argmax(0)
  assert set(lengths) == {1, 2, 3, 4, 5}
  np.testing.assert_array_equal(np.asarray(batch.mask).sum(0), np.minimum(lengths, 3))


def test_the_supervised_runtime_advances_the_level_inside_its_jitted_scan():
  source = task_registry.make('copy_curriculum', batch_size=4, bits=2, initial_level=1,
                              max_level=8, threshold=0.5, min_updates=1)

  def loss(params, batch, key):
    del key
    # Errors in proportion to the longest sequence: learnt perfectly up to length 4.
    errors = jnp.maximum(batch.mask.sum(0).max() - 4, 0).astype(jnp.float32)
    return jnp.sum(params['w'] ** 2), {'bit_errors_per_sequence': errors}

  model = model_lib.Model(init=lambda key, batch: {'w': jnp.ones(())}, loss=loss)
  runtime = supervised.make(model, source,
                            learner_lib.learner_for(model, optax.sgd(0.1)),
                            updates_per_call=6)
  state, metrics = runtime.update(runtime.init(jax.random.PRNGKey(0)))
  # 1 -> 2 -> 4 in the first updates; at h = 4 the error stays 0 and h doubles to 8.
  assert int(state.data_state.level) == 8
  assert state.data_state.level.dtype == jnp.int32
  assert 'bit_errors_per_sequence' in metrics


def test_an_unknown_metric_is_named():
  source = curriculum.make_copy(batch_size=2, metric='accuracy')
  with pytest.raises(ValueError, match="metric 'accuracy' is not among.*loss"):
    source.update(source.init(), {'loss': 1.0})


def test_every_task_is_registered_with_and_without_the_curriculum():
  assert set(task_registry.names()) >= {
      'copy', 'copy_curriculum', 'associative_recall', 'associative_recall_curriculum',
      'priority_sort', 'priority_sort_curriculum'}


@pytest.mark.parametrize('name, kwargs, message', [
    ('copy_curriculum', {'threshold': 0}, 'threshold must be a positive finite number'),
    ('copy_curriculum', {'decay': 1.0}, r'decay must be a number in \[0, 1\)'),
    ('copy_curriculum', {'initial_level': 8, 'max_level': 4},
     'max_level must be an integer >= 8'),
    ('copy_curriculum', {'min_updates': 0}, 'min_updates must be an integer >= 1'),
    ('copy_curriculum', {'metric': ''}, 'metric must be the name of a learner metric'),
    ('copy_curriculum', {'max_length': 4}, "task 'copy_curriculum' got unknown argument"),
    ('associative_recall_curriculum', {'initial_level': 1},
     'initial_level must be an integer >= 2'),
    ('priority_sort_curriculum', {'num_outputs': 9, 'max_level': 8},
     'num_outputs must be <= max_level'),
])
def test_bad_arguments_name_the_field(name, kwargs, message):
  with pytest.raises(ValueError, match=message):
    task_registry.make(name, **kwargs)
