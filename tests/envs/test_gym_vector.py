"""Gymnasium vector environments as host environments: spec, auto-reset, returns."""

import re

import gymnasium as gym
import numpy as np
import pytest

from envs import base
from envs import gym_vector
from envs import host_registry


def test_spec_and_reset():
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=4) as env:
    assert env.num_envs == 4 and env.frames_per_step == 1
    assert env.spec == base.EnvSpec((4,), np.float32, 2, 500)
    step = env.reset(seed=0)
  assert step.timestep.observation.shape == (4, 4)
  assert step.timestep.observation.dtype == np.float32
  assert step.timestep.first.all() and not step.timestep.last.any()
  np.testing.assert_array_equal(step.timestep.discount, 1.0)
  assert np.isnan(step.episode_return).all()


def test_matches_single_gymnasium_envs_across_resets():
  """Environment i equals gymnasium.make seeded with seed + i, reset by hand."""
  num_envs, seed = 3, 11
  rng = np.random.default_rng(0)
  singles = [gym.make('CartPole-v1') for _ in range(num_envs)]
  expected = [s.reset(seed=seed + i)[0] for i, s in enumerate(singles)]
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=num_envs) as env:
    step = env.reset(seed=seed)
    np.testing.assert_array_equal(step.timestep.observation, np.stack(expected))
    resets = 0
    for actions in rng.integers(0, 2, (200, num_envs)):
      step = env.step(actions)
      for i, single in enumerate(singles):
        obs, reward, terminated, truncated, _ = single.step(int(actions[i]))
        assert step.timestep.reward[i] == reward
        assert step.timestep.discount[i] == (0.0 if terminated else 1.0)
        assert step.timestep.last[i] == (terminated or truncated)
        if terminated or truncated:
          obs, _ = single.reset()  # SAME_STEP: the new episode's start comes back now
          resets += 1
        np.testing.assert_array_equal(step.timestep.observation[i], obs)
  assert resets > 5


def test_cartpole_returns_equal_lengths_and_auto_reset():
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=4) as env:
    env.reset(seed=0)
    steps_in_episode = np.zeros(4, int)
    reported = 0
    for actions in np.random.default_rng(0).integers(0, 2, (300, 4)):
      step = env.step(actions)
      ts = step.timestep
      steps_in_episode += 1
      np.testing.assert_array_equal(ts.first, ts.last)
      ended = ts.last
      # CartPole pays 1 per step, so a return is the episode's length.
      np.testing.assert_array_equal(step.episode_return[ended], steps_in_episode[ended])
      np.testing.assert_array_equal(step.episode_length[ended], steps_in_episode[ended])
      assert np.isnan(step.episode_return[~ended]).all()
      np.testing.assert_array_equal(step.episode_length[~ended], 0)
      # Random play falls over long before 500 steps: every end is a termination,
      # and the observation already starts the next episode (|x| <= 0.05).
      np.testing.assert_array_equal(ts.discount, np.where(ended, 0.0, 1.0))
      assert np.all(np.abs(ts.observation[ended]) <= 0.05)
      reported += ended.sum()
      steps_in_episode[ended] = 0
  assert reported > 20


def test_truncation_keeps_discount_one():
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=2,
                               env_kwargs={'max_episode_steps': 10}) as env:
    assert env.spec.max_episode_steps == 10
    env.reset(seed=0)
    # Alternating pushes keep the pole up for 10 steps.
    for t in range(10):
      step = env.step(np.full(2, t % 2))
  assert step.timestep.last.all() and step.timestep.first.all()
  np.testing.assert_array_equal(step.timestep.discount, 1.0)
  np.testing.assert_array_equal(step.episode_length, 10)
  np.testing.assert_array_equal(step.episode_return, 10.0)


def test_bad_actions_and_order():
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=2) as env:
    with pytest.raises(RuntimeError, match='reset'):
      env.step(np.zeros(2, int))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape('[0, 2)')):
      env.step(np.array([0, 2]))
    with pytest.raises(ValueError, match='shape'):
      env.step(np.zeros(1, int))


def test_unsupported_and_unknown_envs():
  with pytest.raises(ValueError, match='needs Discrete'):
    gym_vector.GymVectorEnv(env_id='Pendulum-v1', num_envs=1)
  with pytest.raises(ValueError, match=r"'CartPol-v1'.*argument env_id.*CartPole-v1"):
    gym_vector.GymVectorEnv(env_id='CartPol-v1', num_envs=1)
  with pytest.raises(ValueError, match='num_envs'):
    gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=0)
  with pytest.raises(ValueError, match='num_threads'):
    gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=1, num_threads=4)


def test_registry_builds_gym_by_name():
  # num_threads=0 is accepted, so that a runtime can pass Atari's arguments unchanged.
  env = host_registry.make_host('gym/CartPole-v1', num_envs=2, num_threads=0,
                                env_kwargs={'max_episode_steps': 50})
  assert env.spec == base.EnvSpec((4,), np.float32, 2, 50)
  env.close()
  with pytest.raises(ValueError, match=r"'gym/CartPol-v1'.*did you mean CartPole-v1"):
    host_registry.make_host('gym/CartPol-v1', num_envs=1)
  with pytest.raises(ValueError, match=r'unknown argument\(s\) game;.*env_kwargs'):
    host_registry.make_host('gym/CartPole-v1', num_envs=1, game='pong')
