"""Environments by name."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core import env as env_lib
from envs import registry


@pytest.mark.parametrize('name', registry.names())
def test_every_registered_environment_builds_with_its_defaults_and_steps(name):
  env = registry.make(name)
  state, timestep = jax.jit(env.reset)(jax.random.key(0))
  assert timestep.observation.shape == env.spec.observation_shape
  assert timestep.observation.dtype == np.dtype(env.spec.observation_dtype)
  assert bool(timestep.first) and not bool(timestep.last)
  _, timestep = jax.jit(env.step)(state, env.spec.num_actions - 1)
  assert timestep.observation.shape == env.spec.observation_shape
  assert not bool(timestep.first)


def test_make_by_name():
  env = registry.make('cartpole', max_episode_steps=100)
  assert env.spec == env_lib.EnvSpec((4,), jnp.float32, 2, 100)
  env = registry.make('cue_memory', num_cues=3, delay=2)
  assert env.spec == env_lib.EnvSpec((4,), jnp.float32, 3, None)
  _, timestep = env.reset(jax.random.key(0))
  assert timestep.observation.shape == (4,)


def test_unknown_name_lists_the_names():
  expected = "unknown environment 'foo'; expected one of: cartpole, cue_memory"
  with pytest.raises(ValueError, match=re.escape(expected)):
    registry.make('foo')


def test_unknown_argument_names_environment_and_argument():
  with pytest.raises(ValueError, match=r"'cartpole'.*num_cues.*max_episode_steps"):
    registry.make('cartpole', num_cues=3)


def test_invalid_value_names_environment_and_argument():
  with pytest.raises(ValueError, match=r"'cue_memory'.*delay"):
    registry.make('cue_memory', delay=-1)
