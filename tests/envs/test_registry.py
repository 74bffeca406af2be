"""Environments by name."""

import re

import jax
import jax.numpy as jnp
import pytest

from core import env as env_lib
from envs import registry


def test_names():
  assert registry.names() == ['cartpole', 'cue_memory']


def test_make_by_name():
  env = registry.make('cartpole', max_episode_steps=100)
  assert env.spec == env_lib.EnvSpec((4,), jnp.float32, 2, 100)
  env = registry.make('cue_memory', num_cues=3, delay=2)
  assert env.spec == env_lib.EnvSpec((4,), jnp.float32, 3, None)
  _, timestep = env.reset(jax.random.key(0))
  assert timestep.observation.shape == (4,)


def test_make_with_defaults():
  assert registry.make('cartpole').spec.max_episode_steps == 500
  assert registry.make('cue_memory').spec.num_actions == 4


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
