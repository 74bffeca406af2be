"""Gymnasium environments with discrete or continuous (Box) actions as a host vector
environment.

Wraps ``gymnasium.make_vec`` (synchronous by default) with gymnasium's NEXT_STEP
auto-reset and maps it onto the ``core/host_env.py`` protocol. Gymnasium's SAME_STEP
mode cannot be used: it hides a truncated episode's final observation in
``info['final_obs']`` and applies the next action to the already-reset environment.

With NEXT_STEP (checked on gymnasium 1.4, 'sync', 'async' and CartPole's
'vector_entry_point'), the step that ends an episode, terminated or truncated, returns
that episode's final observation and reward; the next ``step()`` resets that environment
without applying its action and returns the new episode's first observation with reward
0 and ``terminated`` and ``truncated`` False. Here the ending step is ``last`` (not
``first``) with discount 0 if terminated, 1 if truncated, and the following reset step
is ``first`` (not ``last``) with reward 0 and discount 1. Both kinds of episode end take
the next-step form, which the protocol allows for terminations too.

There is no life concept: every episode end reports its return and length, on the
ending step; the reset step counts neither as reward nor as length.

Continuous actions (a one-dimensional Box, e.g. MuJoCo's): the spec has ``num_actions``
0, ``action_shape`` ``(A,)`` and ``action_bounds``; ``step`` takes ``[N, A]`` floats and
clips them to the bounds (a Gaussian policy's samples are unbounded; the agent learns
from the sample it drew, the environment plays the clipped one).
"""

from collections.abc import Mapping
import difflib
from typing import Any

import gymnasium
from gymnasium import spaces
import numpy as np

from core import env as env_lib
from core import host_env
from core import types


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


class GymVectorEnv(host_env.WrappedVectorEnv):
  """``num_envs`` copies of a gymnasium environment, implementing ``HostVectorEnv``.

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
        environment), or 'vector_entry_point' where the environment has one that
        auto-resets in NEXT_STEP mode.
      env_kwargs: keyword arguments of ``gymnasium.make``, e.g. ``max_episode_steps``.

    Raises:
      ValueError: for an unknown id, a non-positive ``num_envs``, ``num_threads``
        other than 0 or 1, or an environment whose action space is not Discrete,
        whose observation space is not a Box, or whose vector environment does not
        auto-reset in NEXT_STEP mode.
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
          f'gymnasium {gymnasium.__version__} has no AutoresetMode; GymVectorEnv needs '
          'gymnasium >= 1.1')
    env_kwargs = dict(env_kwargs or {})
    self.env_id = env_id
    self.num_envs = int(num_envs)
    self.frames_per_step = 1
    next_step = gymnasium.vector.AutoresetMode.NEXT_STEP
    # A custom vector entry point takes no vector_kwargs (gymnasium raises); its
    # auto-reset mode is checked below instead.
    vector_kwargs = ({} if vectorization_mode == 'vector_entry_point'
                     else {'autoreset_mode': next_step})
    self._env = gymnasium.make_vec(
        env_id,
        self.num_envs,
        vectorization_mode=vectorization_mode,
        vector_kwargs=vector_kwargs,
        **env_kwargs)
    autoreset_mode = self._env.metadata.get('autoreset_mode')
    if autoreset_mode != next_step:
      self._env.close()
      raise ValueError(
          f'{env_id!r} with vectorization_mode={vectorization_mode!r} auto-resets in '
          f'mode {autoreset_mode}; GymVectorEnv needs {next_step} (use '
          "vectorization_mode='sync' or 'async')")
    action_space = self._env.single_action_space
    observation_space = self._env.single_observation_space
    continuous = isinstance(action_space, spaces.Box) and len(action_space.shape) == 1
    if not (isinstance(action_space, spaces.Discrete) or continuous):
      self._env.close()
      raise ValueError(
          f'{env_id!r} has action space {action_space}; GymVectorEnv needs Discrete or a '
          'one-dimensional Box')
    if not isinstance(observation_space, spaces.Box):
      self._env.close()
      raise ValueError(
          f'{env_id!r} has observation space {observation_space}; GymVectorEnv needs a Box')
    if continuous:
      self._action_start = 0
      self._low = np.asarray(action_space.low, np.float32)
      self._high = np.asarray(action_space.high, np.float32)
      action_fields = dict(action_shape=tuple(action_space.shape),
                           action_bounds=(tuple(map(float, self._low)),
                                          tuple(map(float, self._high))))
      num_actions = 0
    else:
      self._action_start = int(action_space.start)
      action_fields, num_actions = {}, int(action_space.n)
    self._obs_dtype = (np.dtype(np.float32)
                       if np.issubdtype(observation_space.dtype, np.floating)
                       else np.dtype(observation_space.dtype))
    registered = gymnasium.spec(env_id).max_episode_steps if ':' not in env_id else None
    self.spec = env_lib.EnvSpec(
        tuple(observation_space.shape), self._obs_dtype.type, num_actions,
        env_kwargs.get('max_episode_steps', registered), **action_fields)
    self._episode_return = np.zeros(self.num_envs, np.float32)
    self._episode_length = np.zeros(self.num_envs, np.int32)
    # Environments whose last step ended an episode: their next step is a reset step.
    self._pending_reset = np.zeros(self.num_envs, bool)
    self._started = False
    self._closed = False

  def reset(self, seed: int) -> host_env.HostStep:
    """Starts a new episode everywhere; environment ``i`` is seeded with ``seed + i``."""
    if self._closed:
      raise RuntimeError('reset() called on a closed GymVectorEnv')
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
      raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    obs, _ = self._env.reset(seed=int(seed))
    self._episode_return[:] = 0.0
    self._episode_length[:] = 0
    self._pending_reset = np.zeros(self.num_envs, bool)
    self._started = True
    n = self.num_envs
    timestep = types.TimeStep(
        observation=np.asarray(obs, self._obs_dtype),
        reward=np.zeros(n, np.float32),
        discount=np.ones(n, np.float32),
        first=np.ones(n, bool),
        last=np.zeros(n, bool))
    return host_env.HostStep(
        timestep, np.full(n, np.nan, np.float32), np.zeros(n, np.int32))

  def _checked(self, actions) -> np.ndarray:
    """``actions`` as gymnasium takes them, after checking their shape and range."""
    actions = np.asarray(actions)
    if self.spec.action_shape:
      shape = (self.num_envs,) + self.spec.action_shape
      if actions.shape != shape or actions.dtype.kind != 'f':
        raise ValueError(f'actions must be floats of shape {shape}, got dtype '
                         f'{actions.dtype} shape {actions.shape}')
      if not np.isfinite(actions).all():
        raise ValueError('actions must be finite')
      return np.clip(actions, self._low, self._high).astype(np.float32)
    actions = host_env.check_discrete_actions(actions, self.num_envs, self.spec.num_actions)
    return actions.astype(np.int64) + self._action_start

  def step(self, actions: np.ndarray) -> host_env.HostStep:
    """Steps every environment once.

    Args:
      actions: ``[N]`` integers in ``[0, spec.num_actions)``, or ``[N, A]`` floats for
        continuous actions (clipped to ``spec.action_bounds``). An environment whose
        previous step ended an episode ignores its action and resets.

    Returns:
      The next HostStep. Where an episode ended: its final observation and reward,
      ``last`` (not ``first``), discount 0 if terminated and 1 if truncated, and the
      episode's return and length (NaN and 0 elsewhere). Where the previous step ended
      one: the new episode's first observation, ``first`` (not ``last``), reward 0,
      discount 1.

    Raises:
      ValueError: for actions of the wrong shape, dtype or range.
      RuntimeError: before ``reset`` or after ``close``.
    """
    if not self._started or self._closed:
      raise RuntimeError(
          'step() needs reset() first' if not self._closed else
          'step() called on a closed GymVectorEnv')
    obs, reward, terminated, truncated, _ = self._env.step(self._checked(actions))
    reset_step = self._pending_reset
    # On a reset step gymnasium reports reward 0 and neither flag; masked all the same,
    # so that a reset step can never end an episode or add to its return.
    not_reset = ~reset_step
    reward = np.where(reset_step, np.float32(0), np.asarray(reward, np.float32))
    terminated = np.asarray(terminated, bool) & not_reset
    last = (terminated | np.asarray(truncated, bool)) & not_reset

    self._episode_return += reward
    self._episode_length += not_reset
    episode_return = np.where(last, self._episode_return, np.float32(np.nan))
    episode_length = np.where(last, self._episode_length, 0).astype(np.int32)
    keep = ~last
    self._episode_return *= keep
    self._episode_length *= keep
    self._pending_reset = last.copy()  # the returned arrays are the caller's

    timestep = types.TimeStep(
        observation=np.asarray(obs, self._obs_dtype),
        reward=reward,
        discount=(~terminated).astype(np.float32),
        first=reset_step,
        last=last)
    return host_env.HostStep(timestep, episode_return, episode_length)
