"""The cue-recall task: timing, observations, and the returns of memory and no memory."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core import env as env_lib
from envs import cue_memory


def test_spec():
  env = cue_memory.make(num_cues=3, delay=7)
  assert env.spec == env_lib.EnvSpec((4,), jnp.float32, 3, None)


@pytest.mark.parametrize('delay', [0, 1, 5])
def test_episode_layout(delay):
  num_cues = 4
  env = cue_memory.make(num_cues=num_cues, delay=delay)
  state, timestep = env.reset(jax.random.key(delay))
  cue = int(state.cue)
  obs = np.asarray(timestep.observation)
  assert obs.dtype == np.float32 and obs.shape == (num_cues + 1,)
  np.testing.assert_array_equal(obs, np.eye(num_cues + 1)[cue])
  assert bool(timestep.first) and not bool(timestep.last)

  # Answering wrongly all along shows that no earlier action ends or scores anything.
  wrong = (cue + 1) % num_cues
  for _ in range(delay):
    state, timestep = env.step(state, wrong)
    np.testing.assert_array_equal(timestep.observation, np.zeros(num_cues + 1))
    assert not bool(timestep.last) and float(timestep.reward) == 0.0
    assert float(timestep.discount) == 1.0

  state, timestep = env.step(state, cue)  # Acting on the cue too early is no answer.
  query = np.zeros(num_cues + 1, np.float32)
  query[-1] = 1.0
  np.testing.assert_array_equal(timestep.observation, query)
  assert not bool(timestep.last) and float(timestep.reward) == 0.0

  state, timestep = env.step(state, cue)
  assert bool(timestep.last) and not bool(timestep.first)
  assert float(timestep.reward) == 1.0 and float(timestep.discount) == 0.0
  # Episode length: actions at the cue, at each delay step and at the query.
  assert int(state.t) == delay + 2


def test_wrong_answer_scores_zero():
  env = cue_memory.make(num_cues=2, delay=0)
  state, _ = env.reset(jax.random.key(0))
  state, _ = env.step(state, 0)
  _, timestep = env.step(state, 1 - state.cue)
  assert bool(timestep.last) and float(timestep.reward) == 0.0


def test_cues_are_uniform():
  env = cue_memory.make(num_cues=4, delay=0)
  states, _ = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 8000))
  counts = np.bincount(np.asarray(states.cue), minlength=4)
  np.testing.assert_allclose(counts / 8000, 0.25, atol=0.02)


def _mean_return(num_cues, delay, policy, *, num_envs=512, num_episodes=8):
  """Runs ``policy`` batched with auto-reset; returns (mean return, ending rewards).

  ``policy(memory, timestep) -> (action, memory)`` where ``memory`` is ``[B]`` int32.
  """
  env = env_lib.batched(
      env_lib.auto_reset(cue_memory.make(num_cues=num_cues, delay=delay)), num_envs)
  num_steps = num_episodes * (delay + 2)

  @jax.jit
  def rollout(key):
    state, timestep = env.reset(key)

    def body(carry, _):
      state, timestep, memory = carry
      action, memory = policy(memory, timestep)
      state, timestep = env.step(state, action)
      return (state, timestep, memory), (timestep.reward, timestep.last)

    memory = jnp.zeros((num_envs,), jnp.int32)
    _, (rewards, last) = jax.lax.scan(
        body, (state, timestep, memory), None, length=num_steps)
    return rewards, last

  rewards, last = jax.device_get(rollout(jax.random.key(0)))
  # Every environment finishes exactly num_episodes episodes in num_steps steps.
  np.testing.assert_array_equal(last.sum(axis=0), num_episodes)
  np.testing.assert_array_equal(rewards[~last], 0.0)
  return rewards.sum() / last.sum(), rewards[last]


def _remember_cue(memory, timestep):
  """The optimal recurrent policy: store the cue when an episode starts, answer it."""
  cue = jnp.argmax(timestep.observation[:, :-1], axis=-1).astype(jnp.int32)
  memory = jnp.where(timestep.first, cue, memory)
  return memory, memory


def _feed_forward(memory, timestep):
  """The best memoryless policy: answer from the current observation alone."""
  action = jnp.argmax(timestep.observation[:, :-1], axis=-1).astype(jnp.int32)
  return action, memory


@pytest.mark.parametrize('num_cues,delay', [(4, 5), (3, 0)])
def test_memory_policy_always_succeeds(num_cues, delay):
  mean_return, ending_rewards = _mean_return(num_cues, delay, _remember_cue)
  assert mean_return == 1.0
  np.testing.assert_array_equal(ending_rewards, 1.0)


@pytest.mark.parametrize('num_cues', [2, 4])
def test_memoryless_policy_is_at_chance(num_cues):
  # 4096 episodes: the standard error of the fraction correct is under 0.008.
  mean_return, _ = _mean_return(num_cues, 3, _feed_forward)
  assert abs(mean_return - 1.0 / num_cues) < 0.04


@pytest.mark.parametrize('kwargs,name', [
    (dict(num_cues=1), 'num_cues'),
    (dict(num_cues=0), 'num_cues'),
    (dict(num_cues=2.0), 'num_cues'),
    (dict(num_cues=True), 'num_cues'),
    (dict(delay=-1), 'delay'),
    (dict(delay=1.5), 'delay'),
])
def test_rejects_bad_arguments(kwargs, name):
  with pytest.raises(ValueError, match=name):
    cue_memory.make(**kwargs)


def test_accepts_minimal_arguments():
  env = cue_memory.make(num_cues=2, delay=0)
  assert env.spec.observation_shape == (3,)
