"""CartPole against gymnasium's CartPole-v1, truncation, and the auto-reset wrappers."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import base
from envs import cartpole


def _gym_state(state: cartpole.CartPoleState) -> np.ndarray:
  return np.array([state.x, state.x_dot, state.theta, state.theta_dot], np.float64)


def test_spec():
  env = cartpole.make()
  assert env.spec == base.EnvSpec((4,), jnp.float32, 2, 500)


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
  env = base.batched(
      base.auto_reset(cartpole.make(max_episode_steps=max_steps)), num_envs)

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
  # Every end restarts at once: first exactly where last, from a fresh small state.
  np.testing.assert_array_equal(first, last)
  np.testing.assert_array_equal(t[last], 0)
  assert np.all(np.abs(timesteps.observation[last]) <= 0.05)
  # The ending step keeps its own reward and discount: 0 on termination, 1 on truncation.
  np.testing.assert_array_equal(timesteps.reward, 1.0)
  terminations = last & (timesteps.discount == 0.0)
  truncations = last & (timesteps.discount == 1.0)
  assert terminations.sum() > 0 and truncations.sum() > 0
  np.testing.assert_array_equal(timesteps.discount[~last], 1.0)
  # The step counter restarts, so no episode outlives the limit.
  assert t.max() < max_steps
  np.testing.assert_array_equal(t[~last] > 0, True)
