"""Gymnasium vector environments as host environments: spec, auto-reset, returns."""

import re

import gymnasium as gym
import numpy as np
import pytest

from core import env as env_lib
from envs import gym_vector
from envs import host_registry


def test_spec_and_reset():
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=4) as env:
    assert env.num_envs == 4 and env.frames_per_step == 1
    assert env.spec == env_lib.EnvSpec((4,), np.float32, 2, 500)
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
    pending = np.zeros(num_envs, bool)
    for actions in rng.integers(0, 2, (200, num_envs)):
      step = env.step(actions)
      ts = step.timestep
      for i, single in enumerate(singles):
        if pending[i]:
          # The reset step: the action is ignored, the new episode's start comes back.
          obs, _ = single.reset()
          reward, terminated, truncated = 0.0, False, False
          resets += 1
        else:
          obs, reward, terminated, truncated, _ = single.step(int(actions[i]))
        np.testing.assert_array_equal(ts.observation[i], obs)
        assert ts.reward[i] == reward
        assert ts.discount[i] == (0.0 if terminated else 1.0)
        assert ts.last[i] == (terminated or truncated)
        assert ts.first[i] == pending[i]
        pending[i] = terminated or truncated
  assert resets > 5


def test_cartpole_returns_equal_lengths_and_auto_reset():
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=4) as env:
    env.reset(seed=0)
    steps_in_episode = np.zeros(4, int)
    reported = 0
    pending = np.zeros(4, bool)
    for actions in np.random.default_rng(0).integers(0, 2, (300, 4)):
      step = env.step(actions)
      ts = step.timestep
      np.testing.assert_array_equal(ts.first, pending)
      assert not np.any(ts.first & ts.last)
      # The reset step: the new episode's start (|x| <= 0.05), reward 0, discount 1.
      np.testing.assert_array_equal(ts.reward[pending], 0.0)
      np.testing.assert_array_equal(ts.discount[pending], 1.0)
      assert np.all(np.abs(ts.observation[pending]) <= 0.05)
      steps_in_episode += ~pending
      ended = ts.last
      # CartPole pays 1 per step, so a return is the episode's length.
      np.testing.assert_array_equal(step.episode_return[ended], steps_in_episode[ended])
      np.testing.assert_array_equal(step.episode_length[ended], steps_in_episode[ended])
      assert np.isnan(step.episode_return[~ended]).all()
      np.testing.assert_array_equal(step.episode_length[~ended], 0)
      # Random play falls over long before 500 steps: every end is a termination, and
      # the observation is the episode's final one, past a threshold.
      np.testing.assert_array_equal(ts.discount, np.where(ended, 0.0, 1.0))
      final = ts.observation[ended]
      assert np.all((np.abs(final[:, 0]) > 2.4) | (np.abs(final[:, 2]) > 0.2094))
      reported += ended.sum()
      steps_in_episode[ended] = 0
      pending = ended
  assert reported > 20


# 'async' behaves the same (gymnasium 1.4) but forks, which JAX in the test process
# warns may deadlock, so it is not run here.
def test_truncation_returns_final_observation_then_a_reset_step():
  num_envs, seed, limit = 2, 5, 5
  singles = [gym.make('CartPole-v1', max_episode_steps=limit) for _ in range(num_envs)]
  for i, single in enumerate(singles):
    single.reset(seed=seed + i)
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=num_envs,
                               env_kwargs={'max_episode_steps': limit}) as env:
    assert env.spec.max_episode_steps == limit
    env.reset(seed=seed)
    # Alternating pushes keep the pole up for 5 steps.
    for t in range(limit):
      action = t % 2
      step = env.step(np.full(num_envs, action))
      single_steps = [single.step(action) for single in singles]
    ts = step.timestep
    assert all(truncated and not terminated
               for _, _, terminated, truncated, _ in single_steps)
    # The episode's final observation, from the dynamics, not a reset.
    np.testing.assert_array_equal(ts.observation, np.stack([s[0] for s in single_steps]))
    assert ts.last.all() and not ts.first.any()
    np.testing.assert_array_equal(ts.discount, 1.0)
    np.testing.assert_array_equal(ts.reward, 1.0)
    np.testing.assert_array_equal(step.episode_length, limit)
    np.testing.assert_array_equal(step.episode_return, float(limit))
    final = ts.observation

    # The reset step ignores the actions; environment i resets as the single one does.
    step = env.step(np.array([0, 1]))
    ts = step.timestep
    expected = np.stack([single.reset()[0] for single in singles])
    np.testing.assert_array_equal(ts.observation, expected)
    assert not np.array_equal(ts.observation, final)
    assert ts.first.all() and not ts.last.any()
    np.testing.assert_array_equal(ts.reward, 0.0)
    np.testing.assert_array_equal(ts.discount, 1.0)
    assert np.isnan(step.episode_return).all()
    np.testing.assert_array_equal(step.episode_length, 0)

    # Then the new episode runs normally and counts from 1.
    for t in range(limit):
      step = env.step(np.full(num_envs, t % 2))
      expected = np.stack([single.step(t % 2)[0] for single in singles])
      np.testing.assert_array_equal(step.timestep.observation, expected)
      assert not step.timestep.first.any()
    assert step.timestep.last.all()
    np.testing.assert_array_equal(step.episode_length, limit)


def test_vector_entry_point_auto_resets_on_the_next_step():
  # CartPole's own vector environment auto-resets in NEXT_STEP mode.
  with gym_vector.GymVectorEnv(env_id='CartPole-v1', num_envs=2,
                               vectorization_mode='vector_entry_point',
                               env_kwargs={'max_episode_steps': 3}) as env:
    env.reset(seed=0)
    steps = [env.step(np.full(2, t % 2)) for t in range(5)]
  flags = [(s.timestep.first.tolist(), s.timestep.last.tolist()) for s in steps]
  assert flags == [([False] * 2, [False] * 2), ([False] * 2, [False] * 2),
                   ([False] * 2, [True] * 2), ([True] * 2, [False] * 2),
                   ([False] * 2, [False] * 2)]
  np.testing.assert_array_equal(steps[2].timestep.discount, 1.0)
  np.testing.assert_array_equal(steps[2].episode_length, 3)
  np.testing.assert_array_equal(steps[3].timestep.reward, 0.0)
  assert np.all(np.abs(steps[3].timestep.observation) <= 0.05)


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
  with pytest.raises(ValueError, match='needs a Box'):
    gym_vector.GymVectorEnv(env_id='Blackjack-v1', num_envs=1)  # a Tuple observation
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
  assert env.spec == env_lib.EnvSpec((4,), np.float32, 2, 50)
  env.close()
  with pytest.raises(ValueError, match=r"'gym/CartPol-v1'.*did you mean CartPole-v1"):
    host_registry.make_host('gym/CartPol-v1', num_envs=1)
  with pytest.raises(ValueError, match=r'unknown argument\(s\) game;.*env_kwargs'):
    host_registry.make_host('gym/CartPole-v1', num_envs=1, game='pong')


def test_continuous_actions_are_clipped_to_the_bounds():
  env = gym_vector.GymVectorEnv(env_id='Pendulum-v1', num_envs=2)
  assert env.spec.num_actions == 0 and env.spec.action_shape == (1,)
  assert env.spec.action_bounds == ((-2.0,), (2.0,))
  twin = gym_vector.GymVectorEnv(env_id='Pendulum-v1', num_envs=2)
  env.reset(seed=5)
  twin.reset(seed=5)
  # An action beyond the bounds plays as the bound itself.
  wild = env.step(np.array([[7.5], [-0.5]], np.float32))
  clipped = twin.step(np.array([[2.0], [-0.5]], np.float32))
  np.testing.assert_array_equal(wild.timestep.observation, clipped.timestep.observation)
  np.testing.assert_array_equal(wild.timestep.reward, clipped.timestep.reward)
  with pytest.raises(ValueError, match=r'floats of shape \(2, 1\)'):
    env.step(np.array([0, 1]))
  with pytest.raises(ValueError, match='finite'):
    env.step(np.array([[np.nan], [0.0]], np.float32))
  env.close()
  twin.close()
