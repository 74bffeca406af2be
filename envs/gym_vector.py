"""Gymnasium environments with discrete actions as a host vector environment.

Wraps ``gymnasium.make_vec`` (synchronous by default) with gymnasium's SAME_STEP
auto-reset, which is the ``envs/host.py`` protocol: the step that ends an episode
returns that step's reward and the next episode's first observation (the final
observation goes to ``info['final_obs']``, which the protocol does not need). There is
no life concept: every episode end reports its return and length.
"""

from collections.abc import Mapping
import difflib
from typing import Any

import gymnasium
from gymnasium import spaces
import numpy as np

from core import types
from envs import base
from envs import host


_EXAMPLE_IDS = ('CartPole-v1', 'Acrobot-v1', 'MountainCar-v0', 'LunarLander-v3')


def _check_env_id(env_id: str) -> None:
  if env_id in gymnasium.registry or ':' in env_id:
    return  # 'module:Env-v0' ids register themselves on import inside gymnasium.make.
  close = difflib.get_close_matches(env_id, list(gymnasium.registry), n=3, cutoff=0.6)
  hint = f'did you mean {", ".join(close)}? ' if close else ''
  examples = ', '.join(k for k in _EXAMPLE_IDS if k in gymnasium.registry)
  raise ValueError(
      f'unknown gymnasium environment {env_id!r} (argument env_id); {hint}registered '
      f'ids include {examples} (see gymnasium.pprint_registry())')


class GymVectorEnv(host.WrappedVectorEnv):
  """``num_envs`` copies of a gymnasium environment, implementing ``host.HostVectorEnv``.

  Observations are the environment's Box observations ``[N, ...]``, float32 where the
  space is floating point; rewards are float32.

  Attributes:
    num_envs: number of environments ``N``.
    spec: observation shape and dtype, number of actions, and the registered (or
      overridden) ``max_episode_steps``.
    env_id: the gymnasium id.
    frames_per_step: 1 (an agent step is one environment step), for frame counts.
  """

  def __init__(
      self,
      *,
      env_id: str,
      num_envs: int,
      num_threads: int = 0,
      vectorization_mode: str = 'sync',
      env_kwargs: Mapping[str, Any] | None = None,
  ):
    """Builds the vector environment (call ``reset`` before ``step``).

    Args:
      env_id: a registered gymnasium id, e.g. 'CartPole-v1'.
      num_envs: number of environments.
      num_threads: 0 or 1. Taken so that a runtime can pass one set of arguments to
        every host environment (``AtariVectorEnv`` has a thread pool); gymnasium's
        vector envs have none: 'sync' steps on the calling thread, 'async' uses one
        process per environment.
      vectorization_mode: 'sync' (one process) or 'async' (one process per
        environment), or 'vector_entry_point' where the environment has one.
      env_kwargs: keyword arguments of ``gymnasium.make``, e.g. ``max_episode_steps``.

    Raises:
      ValueError: for an unknown id, a non-positive ``num_envs``, ``num_threads``
        other than 0 or 1, or an environment whose action space is not Discrete or
        whose observation space is not a Box.
    """
    if (not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool)
        or num_envs < 1):
      raise ValueError(f'num_envs must be an integer >= 1, got {num_envs!r}')
    if num_threads not in (0, 1):
      raise ValueError(
          f'num_threads must be 0 or 1 for a gymnasium environment (no thread pool; use '
          f"vectorization_mode='async' for parallel stepping), got {num_threads!r}")
    _check_env_id(env_id)
    if not hasattr(gymnasium.vector, 'AutoresetMode'):
      raise ValueError(
          f'gymnasium {gymnasium.__version__} has no SAME_STEP auto-reset; GymVectorEnv '
          'needs gymnasium >= 1.1')
    env_kwargs = dict(env_kwargs or {})
    self.env_id = env_id
    self.num_envs = int(num_envs)
    self.frames_per_step = 1
    self._env = gymnasium.make_vec(
        env_id,
        self.num_envs,
        vectorization_mode=vectorization_mode,
        vector_kwargs={'autoreset_mode': gymnasium.vector.AutoresetMode.SAME_STEP},
        **env_kwargs)
    action_space = self._env.single_action_space
    observation_space = self._env.single_observation_space
    if not isinstance(action_space, spaces.Discrete):
      self._env.close()
      raise ValueError(
          f'{env_id!r} has action space {action_space}; GymVectorEnv needs Discrete')
    if not isinstance(observation_space, spaces.Box):
      self._env.close()
      raise ValueError(
          f'{env_id!r} has observation space {observation_space}; GymVectorEnv needs a Box')
    self._action_start = int(action_space.start)
    self._obs_dtype = (np.dtype(np.float32)
                       if np.issubdtype(observation_space.dtype, np.floating)
                       else np.dtype(observation_space.dtype))
    registered = gymnasium.spec(env_id).max_episode_steps if ':' not in env_id else None
    self.spec = base.EnvSpec(
        tuple(observation_space.shape), self._obs_dtype.type, int(action_space.n),
        env_kwargs.get('max_episode_steps', registered))
    self._episode_return = np.zeros(self.num_envs, np.float32)
    self._episode_length = np.zeros(self.num_envs, np.int32)
    self._started = False
    self._closed = False

  def reset(self, seed: int) -> host.HostStep:
    """Starts a new episode everywhere; environment ``i`` is seeded with ``seed + i``."""
    if self._closed:
      raise RuntimeError('reset() called on a closed GymVectorEnv')
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
      raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    obs, _ = self._env.reset(seed=int(seed))
    self._episode_return[:] = 0.0
    self._episode_length[:] = 0
    self._started = True
    n = self.num_envs
    timestep = types.TimeStep(
        observation=np.asarray(obs, self._obs_dtype),
        reward=np.zeros(n, np.float32),
        discount=np.ones(n, np.float32),
        first=np.ones(n, bool),
        last=np.zeros(n, bool))
    return host.HostStep(timestep, np.full(n, np.nan, np.float32), np.zeros(n, np.int32))

  def step(self, actions: np.ndarray) -> host.HostStep:
    """Steps every environment once; an ended episode returns the next one's start.

    Args:
      actions: ``[N]`` integers in ``[0, spec.num_actions)``.

    Returns:
      The next HostStep: ``discount`` 0 on termination, 1 on truncation; the episode's
      return and length where it ended (NaN and 0 elsewhere).

    Raises:
      ValueError: for actions of the wrong shape, dtype or range.
      RuntimeError: before ``reset`` or after ``close``.
    """
    if not self._started or self._closed:
      raise RuntimeError(
          'step() needs reset() first' if not self._closed else
          'step() called on a closed GymVectorEnv')
    actions = np.asarray(actions)
    if actions.shape != (self.num_envs,) or actions.dtype.kind not in 'iu':
      raise ValueError(
          f'actions must be integers of shape ({self.num_envs},), got dtype '
          f'{actions.dtype} shape {actions.shape}')
    if actions.min() < 0 or actions.max() >= self.spec.num_actions:
      raise ValueError(
          f'actions must lie in [0, {self.spec.num_actions}), got min {actions.min()} '
          f'max {actions.max()}')
    obs, reward, terminated, truncated, _ = self._env.step(
        actions.astype(np.int64) + self._action_start)
    reward = np.asarray(reward, np.float32)
    terminated = np.asarray(terminated, bool)
    last = terminated | np.asarray(truncated, bool)

    self._episode_return += reward
    self._episode_length += 1
    episode_return = np.where(last, self._episode_return, np.float32(np.nan))
    episode_length = np.where(last, self._episode_length, 0).astype(np.int32)
    keep = ~last
    self._episode_return *= keep
    self._episode_length *= keep

    timestep = types.TimeStep(
        observation=np.asarray(obs, self._obs_dtype),
        reward=reward,
        discount=(~terminated).astype(np.float32),
        first=last,
        last=last.copy())
    return host.HostStep(timestep, episode_return, episode_length)
