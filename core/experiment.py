"""Runs an experiment from its config: validation, then the loop of its runtime.

``config.runtime.name`` picks the loop: ``on_device`` (JAX environments, one compiled
step; ``core/runtime/on_device_train.py``) or ``actor_learner`` (host environments,
actor threads and a learner; ``core/runtime/actor_learner_train.py``).
"""

from typing import Callable

import jax
import ml_collections

from core import config as config_lib
from core.runtime import actor_learner_train
from core.runtime import on_device_train
from core.runtime import workdir as workdir_lib
from envs import host_registry
from envs import registry as env_registry

RUNTIMES = {
    'on_device': on_device_train,
    'actor_learner': actor_learner_train,
}


def _validate_common(config, agent_names, validate_agent):
  c = config_lib
  c.non_negative_int(config, 'seed')
  c.positive_int(config, 'total_frames')
  c.positive_number(config, 'log_interval_s')
  c.positive_number(config, 'checkpoint_interval_s')
  c.positive_int(config, 'num_eval_episodes')
  c.one_of(config, 'agent.name', agent_names)
  validate_agent(config, 'agent')
  c.one_of(config, 'optimizer.name', ('rmsprop', 'adam', 'sgd'))
  c.positive_number(config, 'optimizer.learning_rate')
  c.one_of(config, 'optimizer.schedule', ('constant', 'linear'))
  c.non_negative_number(config, 'optimizer.max_grad_norm')
  c.positive_number(config, 'optimizer.eps')
  c.in_range(config, 'optimizer.decay', 0.0, 1.0)
  c.in_range(config, 'optimizer.momentum', 0.0, 1.0)
  c.one_of(config, 'runtime.name', RUNTIMES)


def _check_devices(config, devices_field: str, batch_field: str, what: str):
  """``runtime.<devices_field>`` (0: all) exists and splits ``runtime.<batch_field>``."""
  devices = config.runtime[devices_field] or jax.device_count()
  if devices > jax.device_count():
    raise config_lib.ConfigError(
        f'config.runtime.{devices_field}: expected at most {jax.device_count()} (the devices '
        f'present; on CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N), got '
        f'{devices}')
  if config.runtime[batch_field] % devices:
    raise config_lib.ConfigError(
        f'config.runtime.{batch_field}: expected a multiple of the {devices} {what}, got '
        f'{config.runtime[batch_field]}')


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
  _check_devices(config, 'num_devices', 'num_envs', 'devices')


def _validate_actor_learner(config):
  c = config_lib
  for field in ('num_actors', 'envs_per_actor', 'batch_size', 'unroll_length',
                'queue_capacity'):
    c.positive_int(config, f'runtime.{field}')
  c.non_negative_int(config, 'runtime.env_threads')
  c.non_negative_int(config, 'runtime.learner_devices')
  c.non_negative_int(config, 'runtime.replay_ratio')
  c.positive_int(config, 'runtime.replay_capacity')
  _check_devices(config, 'learner_devices', 'batch_size', 'learner devices')
  rt = config.runtime
  step = (rt.replay_ratio + 1) * rt.envs_per_actor
  if rt.batch_size % step:
    raise config_lib.ConfigError(
        f'config.runtime.batch_size: expected a multiple of (runtime.replay_ratio + 1) * '
        f'runtime.envs_per_actor = {step} (fresh unrolls come whole from the actors), got '
        f'{rt.batch_size}')
  try:
    host_registry.make_host(config.env.name, num_envs=1, **config.env.kwargs.to_dict()).close()
  except ValueError as e:
    raise config_lib.ConfigError(f'config.env: {e}') from e


def validate(config: ml_collections.ConfigDict, agent_names, validate_agent: Callable) -> None:
  """Checks every field the experiment reads; raises ``ConfigError`` naming the first
  bad one."""
  _validate_common(config, agent_names, validate_agent)
  if config.runtime.name == 'on_device':
    _validate_on_device(config)
  else:
    _validate_actor_learner(config)


def train(config: ml_collections.ConfigDict, workdir: str, make_agent: Callable,
          *, print_fn: Callable[[str], None] = print) -> workdir_lib.TrainResult:
  """Trains (or resumes) the experiment in ``workdir`` with its runtime's loop."""
  return RUNTIMES[config.runtime.name].train(config, workdir, make_agent, print_fn=print_fn)
