"""CartPole against gymnasium's CartPole-v1, truncation, and the auto-reset wrappers."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core import env as env_lib
from envs import cartpole


def _gym_state(state: cartpole.CartPoleState) -> np.ndarray:
  return np.array([state.x, state.x_dot, state.theta, state.theta_dot], np.float64)


def test_spec_is_gymnasium_cartpole_v1():
  gym_env = gym.make('CartPole-v1')
  spec = cartpole.make().spec  # the defaults are CartPole-v1's, truncation included
  assert spec.observation_shape == gym_env.observation_space.shape
  assert np.dtype(spec.observation_dtype) == gym_env.observation_space.dtype
  assert spec.num_actions == gym_env.action_space.n
  assert spec.max_episode_steps == gym_env.spec.max_episode_steps


def test_reset_is_a_small_float32_start():
  env = cartpole.make()
  states, timestep = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 256))
  obs = np.asarray(timestep.observation)
  assert obs.shape == (256, 4) and obs.dtype == np.float32
  assert np.all(np.abs(obs) <= 0.05)
  # Uniform on [-0.05, 0.05]: the sample should cover most of the interval.
  assert obs.min() < -0.045 and obs.max() > 0.045
  np.testing.assert_array_equal(states.t, 0)
  assert np.all(timestep.first) and not np.any(timestep.last)
  np.testing.assert_array_equal(timestep.reward, 0.0)
  np.testing.assert_array_equal(timestep.discount, 1.0)


def test_matches_gymnasium_cartpole_v1():
  env = cartpole.make()
  reset, step = jax.jit(env.reset), jax.jit(env.step)
  gym_env = gym.make('CartPole-v1')
  gym_env.reset(seed=0)
  rng = np.random.default_rng(0)
  key = jax.random.key(0)
  num_steps = num_episodes = 0
  while num_steps < 200:
    key, reset_key = jax.random.split(key)
    state, timestep = reset(reset_key)
    gym_env.reset()
    # Synchronised once per episode, so errors would accumulate over the episode.
    gym_env.unwrapped.state = _gym_state(state)
    num_episodes += 1
    while True:
      action = int(rng.integers(2))
      state, timestep = step(state, action)
      gym_obs, gym_reward, terminated, truncated, _ = gym_env.step(action)
      num_steps += 1
      np.testing.assert_allclose(timestep.observation, gym_obs, rtol=0, atol=1e-5)
      assert float(timestep.reward) == gym_reward == 1.0
      assert bool(timestep.last) == (terminated or truncated)
      assert float(timestep.discount) == (0.0 if terminated else 1.0)
      assert not bool(timestep.first)
      if terminated or truncated:
        break
  # Random actions drop the pole within a few dozen steps: many terminations checked.
  assert num_episodes > 5


def test_truncation_sets_last_with_discount_one():
  max_steps = 10
  env = cartpole.make(max_episode_steps=max_steps)
  assert env.spec.max_episode_steps == max_steps
  step = jax.jit(env.step)
  state, _ = env.reset(jax.random.key(1))
  for t in range(1, max_steps + 1):
    # Alternating pushes keep the pole up well past 10 steps.
    state, timestep = step(state, t % 2)
    assert bool(timestep.last) == (t == max_steps), t
    assert float(timestep.discount) == 1.0
    assert float(timestep.reward) == 1.0
  assert int(state.t) == max_steps


def test_no_truncation_when_unlimited():
  env = cartpole.make(max_episode_steps=None)
  state, _ = env.reset(jax.random.key(1))
  state = state._replace(t=jnp.asarray(10**6, jnp.int32))
  _, timestep = env.step(state, 0)
  assert not bool(timestep.last)


@pytest.mark.parametrize('value', [0, -3, 2.5, True, '500'])
def test_rejects_bad_max_episode_steps(value):
  with pytest.raises(ValueError, match='max_episode_steps'):
    cartpole.make(max_episode_steps=value)


def test_rejects_batched_action_on_unbatched_env():
  env = cartpole.make()
  state, _ = env.reset(jax.random.key(0))
  with pytest.raises(ValueError, match='scalar integer action'):
    env.step(state, jnp.zeros((3,), jnp.int32))


def test_jit_batched_auto_reset_restarts_episodes():
  num_envs, num_steps = 16, 100
  max_steps = 20  # Near random play's typical episode length: both ends occur.
  env = env_lib.batched(
      env_lib.auto_reset(cartpole.make(max_episode_steps=max_steps)), num_envs)

  @jax.jit
  def rollout(key):
    reset_key, action_key = jax.random.split(key)
    state, timestep = env.reset(reset_key)
    actions = jax.random.randint(action_key, (num_steps, num_envs), 0, 2)

    def body(state, action):
      state, timestep = env.step(state, action)
      return state, (timestep, state.env_state.t)

    _, (timesteps, t) = jax.lax.scan(body, state, actions)
    return timestep, timesteps, t

  first_timestep, timesteps, t = jax.device_get(rollout(jax.random.key(3)))
  assert first_timestep.observation.shape == (num_envs, 4)
  assert np.all(first_timestep.first)
  last, first = timesteps.last, timesteps.first
  assert last.shape == (num_steps, num_envs)
  terminations = last & (timesteps.discount == 0.0)
  truncations = last & (timesteps.discount == 1.0)
  assert terminations.sum() > 0 and truncations.sum() > 0
  # A termination restarts at once, from a fresh small state, keeping its reward 1.
  np.testing.assert_array_equal(first[terminations], True)
  np.testing.assert_array_equal(t[terminations], 0)
  assert np.all(np.abs(timesteps.observation[terminations]) <= 0.05)
  # A truncation keeps the episode's final state: not first, the counter at the limit.
  np.testing.assert_array_equal(first[truncations], False)
  np.testing.assert_array_equal(t[truncations], max_steps)
  # The step after a truncation is a reset step: first, not last, reward 0.
  after_truncation = np.zeros_like(truncations)
  after_truncation[1:] = truncations[:-1]
  np.testing.assert_array_equal(first, terminations | after_truncation)
  np.testing.assert_array_equal(last[after_truncation], False)
  np.testing.assert_array_equal(timesteps.reward[after_truncation], 0.0)
  np.testing.assert_array_equal(timesteps.discount[after_truncation], 1.0)
  np.testing.assert_array_equal(t[after_truncation], 0)
  np.testing.assert_array_equal(timesteps.reward[~after_truncation], 1.0)
  np.testing.assert_array_equal(timesteps.discount[~last], 1.0)
  # The step counter restarts, so no episode outlives the limit.
  assert t.max() == max_steps
  np.testing.assert_array_equal(t[~first] > 0, True)


def test_auto_reset_truncation_keeps_final_observation_then_resets():
  max_steps = 5
  bare = cartpole.make(max_episode_steps=max_steps)
  env = env_lib.auto_reset(bare)
  step, bare_step = jax.jit(env.step), jax.jit(bare.step)
  key = jax.random.key(7)
  state, timestep = env.reset(key)
  # auto_reset resets the wrapped env with the second half of a split of its key.
  bare_state, bare_timestep = bare.reset(jax.random.split(key)[1])
  np.testing.assert_array_equal(timestep.observation, bare_timestep.observation)
  for t in range(1, max_steps + 1):
    action = t % 2  # Alternating pushes keep the pole up well past 5 steps.
    state, timestep = step(state, action)
    bare_state, bare_timestep = bare_step(bare_state, action)
    np.testing.assert_allclose(timestep.observation, bare_timestep.observation,
                               rtol=0, atol=1e-6)
    assert bool(timestep.last) == (t == max_steps) and not bool(timestep.first)
    assert float(timestep.discount) == 1.0 and float(timestep.reward) == 1.0
  # The truncation step's observation is the episode's final one (it came from 5 steps
  # of the dynamics, not the reset distribution).
  assert int(state.env_state.t) == max_steps
  final = np.asarray(timestep.observation)
  # The next step is a reset step whatever the action.
  state0, reset0 = step(state, 0)
  state1, reset1 = step(state, 1)
  np.testing.assert_array_equal(
      jax.random.key_data(state0.key), jax.random.key_data(state1.key))
  jax.tree.map(np.testing.assert_array_equal,
               (state0.env_state, state0.pending_reset, reset0),
               (state1.env_state, state1.pending_reset, reset1))
  assert bool(reset0.first) and not bool(reset0.last)
  assert float(reset0.reward) == 0.0 and float(reset0.discount) == 1.0
  assert np.all(np.abs(np.asarray(reset0.observation)) <= 0.05)
  assert not np.array_equal(reset0.observation, final)
  assert int(state0.env_state.t) == 0
  # Then the new episode runs normally.
  state, timestep = step(state0, 1)
  assert not bool(timestep.first) and not bool(timestep.last)
  assert float(timestep.reward) == 1.0 and int(state.env_state.t) == 1


@pytest.mark.parametrize('t', [0, 4])  # mid-episode, and on the truncation step too
def test_auto_reset_termination_resets_on_the_same_step(t):
  env = env_lib.auto_reset(cartpole.make(max_episode_steps=5))
  step = jax.jit(env.step)
  state, _ = env.reset(jax.random.key(0))
  # Past the angle threshold: the next step terminates whatever the action.
  state = state._replace(env_state=state.env_state._replace(
      theta=jnp.float32(0.3), t=jnp.int32(t)))
  state, timestep = step(state, 0)
  assert bool(timestep.last) and bool(timestep.first)
  assert float(timestep.discount) == 0.0 and float(timestep.reward) == 1.0
  assert np.all(np.abs(np.asarray(timestep.observation)) <= 0.05)
  assert int(state.env_state.t) == 0 and not bool(state.pending_reset)
  # No reset step follows: the next step plays the action in the new episode.
  state, timestep = step(state, 1)
  assert not bool(timestep.first) and not bool(timestep.last)
  assert float(timestep.reward) == 1.0 and int(state.env_state.t) == 1
