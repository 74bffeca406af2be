"""A supervised run from its config: data source, model, learner, the runtime, its loop."""

import functools
from typing import Callable

import jax
import ml_collections
import numpy as np
import optax

from core import learner as learner_lib
from core import optim
from core import parallel
from core.runtime import supervised
from envs import task_registry
from experiments import evaluation
from experiments import models as model_registry
from experiments import train as train_lib


def build(config: ml_collections.ConfigDict,
          make_model: Callable | None = None) -> supervised.Runtime:
  """The supervised runtime described by ``config`` (validated beforehand).

  ``make_model(example_batch, model_config) -> Model`` defaults to the registered family
  of ``config.model.name``.
  """
  family = model_registry.get(config.model.name)
  make_model = make_model or family.make_model
  data = family.prepare_data(task_registry.make(config.data.name, **config.data.kwargs.to_dict()),
                             config.model)
  example = jax.eval_shape(data.sample, data.init(), jax.random.PRNGKey(0))
  model = make_model(example, config.model)
  num_updates = total_updates(config, data.batch_size)
  optimizer = optim.make_optimizer(config.optimizer, num_updates)
  num_devices = config.runtime.num_devices or jax.device_count()
  mesh = parallel.make_mesh(num_devices) if num_devices > 1 else None
  return supervised.make(model, data, learner_lib.learner_for(model, optimizer),
                         updates_per_call=config.runtime.updates_per_call,
                         num_eval_batches=config.runtime.num_eval_batches, mesh=mesh)


def total_updates(config, batch_size: int) -> int:
  per_call = batch_size * config.runtime.updates_per_call
  return train_lib.steps_for(config.total_examples, per_call) * config.runtime.updates_per_call


def summarise(window: list[dict], elapsed_s: float) -> dict:
  del elapsed_s
  window = jax.device_get(window)
  return {k: float(np.mean([m[k] for m in window])) for k in window[0]}


def make_run(config: ml_collections.ConfigDict,
             make_model: Callable | None = None) -> train_lib.Run:
  runtime = build(config, make_model)

  def finish(state):
    metrics = runtime.evaluate(state.learner.params, state.data_state,
                               jax.random.PRNGKey(config.seed + 1))
    return {f'eval_{k}': float(v) for k, v in jax.device_get(metrics).items()}

  return train_lib.Run(
      state=runtime.init(jax.random.PRNGKey(config.seed)),
      place=train_lib.placer(runtime.state_sharding),
      update_of=lambda state: int(state.learner.update),
      session=train_lib.fixed_session(runtime.update),
      summarise=summarise,
      num_updates=total_updates(config, runtime.examples_per_update),
      updates_per_step=runtime.updates_per_call,
      frames_per_update=runtime.examples_per_update,
      unit='examples',
      progress_keys=('loss',),
      plot_keys=('loss', 'grad_norm', 'eval_loss'),
      finish=finish)


def train(config, workdir, *, make_model: Callable | None = None, **kwargs):
  """Trains (or resumes) a supervised experiment in ``workdir`` (``train_lib.run``)."""
  return train_lib.run(config, workdir, functools.partial(make_run, config, make_model),
                       **kwargs)


def evaluate_on(workdir, *, data_kwargs: dict, data_name: str | None = None,
                num_batches: int = 10, seed: int = 0) -> dict:
  """The metrics of ``workdir``'s latest checkpoint on data it did not train on: its
  task with ``data_kwargs`` overriding the run's (e.g. sequences ten times longer), or
  the task ``data_name``. Averaged over ``num_batches`` batches.

  The model is rebuilt for the new data's shapes with the trained parameters, which
  works where they do not depend on the sequence length (every recurrent model here).
  """
  config = evaluation.load_config(workdir)
  family = model_registry.get(config.model.name)
  trained = build(config)
  state = evaluation.restore(workdir, trained.init(jax.random.PRNGKey(config.seed)))
  kwargs = dict(config.data.kwargs.to_dict(), **data_kwargs)
  if data_name is not None:
    kwargs = dict(data_kwargs)
  data = family.prepare_data(task_registry.make(data_name or config.data.name, **kwargs),
                             config.model)
  example = jax.eval_shape(data.sample, data.init(), jax.random.PRNGKey(0))
  model = family.make_model(example, config.model)
  runtime = supervised.make(model, data, learner_lib.learner_for(model, optax.identity()),
                            updates_per_call=1, num_eval_batches=num_batches)
  metrics = runtime.evaluate(state.learner.params, data.init(), jax.random.PRNGKey(seed))
  return {k: float(v) for k, v in jax.device_get(metrics).items()}
