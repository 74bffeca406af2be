"""The JAX-native environment protocol: pure ``reset``/``step`` with auto-reset.

Concrete environments live in ``envs/``; this is the protocol they implement.

An environment is a bundle of pure functions over a NamedTuple state, so the on-device
runtime can ``vmap`` it over a batch and ``scan`` it over time inside one compiled program.

  reset(key) -> (state, TimeStep)            one environment, unbatched
  step(state, action) -> (state, TimeStep)   one environment; never resets by itself

``auto_reset`` wraps an environment so that ``step`` starts the next episode as soon as one
ends, and ``batched`` vmaps the result over ``num_envs`` environments.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from core import types


class EnvSpec(NamedTuple):
  """Static facts about an environment's interface.

  Attributes:
    observation_shape: shape of one observation (no batch dimension).
    observation_dtype: dtype of observations.
    num_actions: number of discrete actions; 0 for continuous actions.
    max_episode_steps: steps after which an episode is truncated (None: never).
    action_shape: one continuous action's shape, e.g. ``(6,)``; ``()`` for discrete
      actions (an integer each).
    action_bounds: ``(low, high)`` tuples of floats, one per action dimension, for
      continuous actions (the environment clips to them); None for discrete ones.
  """
  observation_shape: tuple[int, ...]
  observation_dtype: Any
  num_actions: int
  max_episode_steps: int | None = None
  action_shape: tuple[int, ...] = ()
  action_bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None


class Environment(NamedTuple):
  """Pure functions of one JAX-native environment."""
  reset: Callable[[jax.Array], tuple[Any, types.TimeStep]]
  step: Callable[[Any, jax.Array], tuple[Any, types.TimeStep]]
  spec: EnvSpec


class AutoResetState(NamedTuple):
  env_state: Any
  key: jax.Array
  pending_reset: jax.Array  # bool: the last step returned a truncated episode's final observation


def restart(observation) -> types.TimeStep:
  """The TimeStep of a fresh episode (unbatched)."""
  return types.TimeStep(
      observation=observation,
      reward=jnp.zeros((), jnp.float32),
      discount=jnp.ones((), jnp.float32),
      first=jnp.ones((), jnp.bool_),
      last=jnp.zeros((), jnp.bool_))


def transition(observation, reward, terminated, truncated) -> types.TimeStep:
  """The TimeStep after a step (unbatched); ``last`` if terminated or truncated."""
  return types.TimeStep(
      observation=observation,
      reward=jnp.asarray(reward, jnp.float32),
      discount=1.0 - jnp.asarray(terminated, jnp.float32),
      first=jnp.zeros((), jnp.bool_),
      last=jnp.logical_or(terminated, truncated))


def auto_reset(env: Environment) -> Environment:
  """Wraps ``env`` so that ``step`` begins a new episode when one ends (``core.types``).

  * Termination (``last``, discount 0) resets on the same step: the TimeStep keeps that
    step's reward and discount, but its observation is the new episode's first one and
    ``first`` is set. Nothing bootstraps from a terminal state, so nothing is lost.
  * Truncation (``last``, discount 1) returns the episode's final observation, so the
    learner can bootstrap from it; the *next* step ignores its action and returns the new
    episode's first observation (``first``, reward 0).
  """

  def reset(key):
    key, reset_key = jax.random.split(key)
    env_state, timestep = env.reset(reset_key)
    return AutoResetState(env_state, key, jnp.zeros((), jnp.bool_)), timestep

  def step(state, action):
    env_state, timestep = env.step(state.env_state, action)
    key, reset_key = jax.random.split(state.key)
    reset_state, reset_timestep = env.reset(reset_key)
    terminated = jnp.logical_and(timestep.last, timestep.discount == 0)
    truncated = jnp.logical_and(timestep.last, jnp.logical_not(terminated))
    pending = state.pending_reset
    select = lambda pred, x, y: jax.tree.map(lambda a, b: jnp.where(pred, a, b), x, y)
    terminated_timestep = timestep._replace(observation=reset_timestep.observation,
                                            first=jnp.ones((), jnp.bool_))
    out = select(pending, reset_timestep, select(terminated, terminated_timestep, timestep))
    env_state = select(jnp.logical_or(pending, terminated), reset_state, env_state)
    next_pending = jnp.logical_and(jnp.logical_not(pending), truncated)
    return AutoResetState(env_state, key, next_pending), out

  return Environment(reset=reset, step=step, spec=env.spec)


def batched(env: Environment, num_envs: int) -> Environment:
  """Vmaps ``env`` over ``num_envs`` copies; ``reset`` takes one key for all of them."""
  if num_envs < 1:
    raise ValueError(f'num_envs must be a positive integer, got {num_envs}')

  def reset(key):
    return jax.vmap(env.reset)(jax.random.split(key, num_envs))

  return Environment(reset=reset, step=jax.vmap(env.step), spec=env.spec)
