"""The supervised runtime: a model learns from batches that a data source draws from keys.

For models trained on batches rather than environments (the predictron's mazes and pool,
the memory models' copy, recall and sort tasks). Sampling a batch, the learner step
(``core.learner``) and the data source's update (a curriculum) are fused into one jitted
program, repeated ``updates_per_call`` times in a ``scan``. Everything a run needs is in
``TrainState``, so a checkpoint resumes it exactly. With a device mesh every batch leaf is
split over the ``data`` axis along the source's batch axis; parameters are replicated.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from core import learner as learner_lib
from core import model as model_lib
from core import parallel


class TrainState(NamedTuple):
  learner: learner_lib.LearnerState
  data_state: Any  # the data source's own state (a curriculum level)
  key: jax.Array


class Runtime(NamedTuple):
  """Pure (jitted) functions of a supervised run.

  Attributes:
    init: ``(key) -> TrainState``.
    update: ``(TrainState) -> (TrainState, metrics)``; runs ``updates_per_call`` steps and
      averages their metrics. Its argument is donated.
    evaluate: ``(params, data_state, key) -> metrics``: the loss's metrics on
      ``num_eval_batches`` fresh batches, averaged.
    state_sharding: the sharding of each TrainState leaf (None without a mesh).
    examples_per_update: examples (batch rows) one update consumes.
    updates_per_call: updates per call of ``update``.
  """
  init: Callable[[jax.Array], TrainState]
  update: Callable[[TrainState], tuple[TrainState, dict]]
  evaluate: Callable[[Any, Any, jax.Array], dict]
  state_sharding: Any
  examples_per_update: int
  updates_per_call: int


def _data_metrics(data_state) -> dict:
  """The scalar fields of a NamedTuple data state after a call (a curriculum's level and
  error estimate), logged as ``data_<field>``."""
  if not hasattr(data_state, '_asdict'):
    return {}
  return {f'data_{name}': jnp.asarray(value, jnp.float32)
          for name, value in data_state._asdict().items() if jnp.ndim(value) == 0}


def make(model: model_lib.Model,
         data: model_lib.DataSource,
         learner: learner_lib.Learner,
         *,
         updates_per_call: int = 1,
         num_eval_batches: int = 4,
         mesh: jax.sharding.Mesh | None = None) -> Runtime:
  """Builds the supervised runtime.

  Args:
    model: the model's pure functions.
    data: where batches come from (its batch size is that of its batches).
    learner: the learner step (``core.learner``; by default from ``model.loss``).
    updates_per_call: updates fused into one call of ``update``.
    num_eval_batches: batches ``evaluate`` averages over.
    mesh: shard each batch over this mesh's ``data`` axis (along ``data.batch_axis``).
  """
  for name, value in (('updates_per_call', updates_per_call),
                      ('num_eval_batches', num_eval_batches)):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f'{name} must be a positive integer, got {value!r}')
  batch_constraint = lambda batch: batch
  if mesh is not None:
    parallel.check_divisible(data.batch_size, mesh, 'batch_size')
    split = jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec(*[None] * data.batch_axis, parallel.DATA_AXIS))
    batch_constraint = lambda batch: jax.lax.with_sharding_constraint(
        batch, jax.tree.map(lambda _: split, batch))

  def init(key):
    params_key, sample_key, key = jax.random.split(key, 3)
    data_state = data.init()
    params = model.init(params_key, data.sample(data_state, sample_key))
    return TrainState(learner.init(params), data_state, key)

  def one_update(state: TrainState, _):
    key, sample_key, learn_key = jax.random.split(state.key, 3)
    batch = batch_constraint(data.sample(state.data_state, sample_key))
    learner_state, metrics = learner.step(state.learner, batch, learn_key)
    data_state = data.update(state.data_state, metrics)
    return TrainState(learner_state, data_state, key), metrics

  def update(state: TrainState):
    state, metrics = jax.lax.scan(one_update, state, length=updates_per_call)
    return state, dict(jax.tree.map(jnp.mean, metrics), **_data_metrics(state.data_state))

  def evaluate(params, data_state, key):

    def one_batch(_, batch_key):
      sample_key, loss_key = jax.random.split(batch_key)
      batch = batch_constraint(data.sample(data_state, sample_key))
      return None, model.loss(params, batch, loss_key)[1]

    _, metrics = jax.lax.scan(one_batch, None, jax.random.split(key, num_eval_batches))
    return jax.tree.map(jnp.mean, metrics)

  state_sharding = None if mesh is None else jax.tree.map(
      lambda _: parallel.replicated(mesh), jax.eval_shape(init, jax.random.PRNGKey(0)))
  init_fn, update_fn = parallel.jit_train_step(init, update, state_sharding)
  return Runtime(
      init=init_fn,
      update=update_fn,
      evaluate=jax.jit(evaluate),
      state_sharding=state_sharding,
      examples_per_update=data.batch_size,
      updates_per_call=updates_per_call)
