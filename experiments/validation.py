"""Checks an experiment's config before any work: the first bad field, named, with what
was expected (``core.config.ConfigError``)."""

import jax
import ml_collections

from agents import registry as agent_registry
from core import config as config_lib
from envs import host_registry
from envs import registry as env_registry
from envs import task_registry
from experiments import agents
from experiments import models as model_registry

RUNTIMES = ('on_device', 'actor_learner', 'async', 'supervised')  # experiments/experiment.py


def _validate_optimizer(config):
  c = config_lib
  c.one_of(config, 'optimizer.name', ('rmsprop', 'adam', 'sgd'))
  c.positive_number(config, 'optimizer.learning_rate')
  c.one_of(config, 'optimizer.schedule', ('constant', 'linear'))
  c.non_negative_number(config, 'optimizer.max_grad_norm')
  c.positive_number(config, 'optimizer.eps')
  c.in_range(config, 'optimizer.decay', 0.0, 1.0)
  c.in_range(config, 'optimizer.momentum', 0.0, 1.0)


def _validate_common(config):
  c = config_lib
  c.non_negative_int(config, 'seed')
  c.positive_number(config, 'log_interval_s')
  c.positive_number(config, 'checkpoint_interval_s')
  c.one_of(config, 'runtime.name', RUNTIMES)
  _validate_optimizer(config)


def _validate_agent(config):
  c = config_lib
  c.positive_int(config, 'total_frames')
  c.positive_int(config, 'num_eval_episodes')
  c.one_of(config, 'agent.name', agent_registry.names())
  agents.validate(config, 'agent')


def _check_devices(config, devices_field: str, batch_field: str, what: str,
                   batch_size: int | None = None):
  """``runtime.<devices_field>`` (0: all) exists and splits ``config.<batch_field>``
  (whose value is ``batch_size`` when given)."""
  devices = config.runtime[devices_field] or jax.device_count()
  if devices > jax.device_count():
    raise config_lib.ConfigError(
        f'config.runtime.{devices_field}: expected at most {jax.device_count()} (the devices '
        f'present; on CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N), got '
        f'{devices}')
  if batch_size is None:
    batch_size = config_lib.get_field(config, batch_field)
  if batch_size % devices:
    raise config_lib.ConfigError(
        f'config.{batch_field}: expected a multiple of the {devices} {what}, got '
        f'{batch_size}')


def _validate_on_device(config):
  c = config_lib
  c.one_of(config, 'env.name', env_registry.names())
  c.positive_int(config, 'runtime.num_envs')
  c.positive_int(config, 'runtime.unroll_length')
  c.positive_int(config, 'runtime.updates_per_call')
  c.non_negative_int(config, 'runtime.num_devices')
  try:
    env_registry.make(config.env.name, **config.env.kwargs.to_dict())
  except ValueError as e:
    raise config_lib.ConfigError(f'config.env.kwargs: {e}') from e
  _check_devices(config, 'num_devices', 'runtime.num_envs', 'devices')


def _validate_actor_learner(config):
  c = config_lib
  for field in ('num_actors', 'envs_per_actor', 'batch_size', 'unroll_length',
                'queue_capacity'):
    c.positive_int(config, f'runtime.{field}')
  c.non_negative_int(config, 'runtime.env_threads')
  c.non_negative_int(config, 'runtime.learner_devices')
  c.non_negative_int(config, 'runtime.replay_ratio')
  c.positive_int(config, 'runtime.replay_capacity')
  _check_devices(config, 'learner_devices', 'runtime.batch_size', 'learner devices')
  rt = config.runtime
  step = (rt.replay_ratio + 1) * rt.envs_per_actor
  if rt.batch_size % step:
    raise config_lib.ConfigError(
        f'config.runtime.batch_size: expected a multiple of (runtime.replay_ratio + 1) * '
        f'runtime.envs_per_actor = {step} (fresh unrolls come whole from the actors), got '
        f'{rt.batch_size}')
  _validate_host_env(config)


def _validate_host_env(config):
  try:
    host_registry.make_host(config.env.name, num_envs=1, **config.env.kwargs.to_dict()).close()
  except ValueError as e:
    raise config_lib.ConfigError(f'config.env: {e}') from e


def _validate_async(config):
  c = config_lib
  for field in ('envs_per_worker', 'unroll_length'):
    c.positive_int(config, f'runtime.{field}')
  c.non_negative_int(config, 'runtime.num_workers')
  c.one_of(config, 'runtime.backend', ('process', 'thread'))
  c.require(config, 'runtime.deterministic', lambda x: isinstance(x, bool), 'a boolean')
  _validate_host_env(config)


def _validate_supervised(config):
  c = config_lib
  c.positive_int(config, 'total_examples')
  c.positive_int(config, 'runtime.updates_per_call')
  c.positive_int(config, 'runtime.num_eval_batches')
  c.non_negative_int(config, 'runtime.num_devices')
  c.one_of(config, 'data.name', task_registry.names())
  c.one_of(config, 'model.name', model_registry.names())
  try:
    source = task_registry.make(config.data.name, **config.data.kwargs.to_dict())
  except ValueError as e:
    raise config_lib.ConfigError(f'config.data.kwargs: {e}') from e
  model_registry.get(config.model.name).validate(config, 'model')
  _check_devices(config, 'num_devices', 'data.kwargs.batch_size', 'devices',
                 source.batch_size)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks every field the experiment reads; raises ``ConfigError`` naming the first
  bad one."""
  _validate_common(config)
  if config.runtime.name == 'supervised':
    _validate_supervised(config)
    return
  _validate_agent(config)
  if config.runtime.name == 'on_device':
    _validate_on_device(config)
  elif config.runtime.name == 'async':
    _validate_async(config)
  else:
    _validate_actor_learner(config)
