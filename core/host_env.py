"""The host (numpy) vector-environment protocol used by the actor-learner runtime.

A host vector environment steps ``num_envs`` environments outside JAX (ale-py's C++
vector env, gymnasium vector envs) and speaks the same TimeStep language as the JAX
environments (``core/types.py``), with numpy arrays of leading dimension ``num_envs``:

  reset(seed) -> HostStep            every environment starts an episode
  step(actions [N]) -> HostStep      auto-resets as ``core.env.auto_reset`` does: a
                                     terminated episode returns the next one's first
                                     observation (``first`` and ``last`` set); a truncated
                                     one returns its final observation (``last``, discount
                                     1) and the next step ignores that environment's
                                     action and returns the new first observation
  close()

Concrete host environments live in ``envs/``; this is the protocol they implement.

``HostStep.episode_return`` reports what a person would call the score: for Atari with
life-loss episodes, training episodes end at each lost life but the return is reported
once per full game, unclipped.
"""

from typing import Any, NamedTuple, Protocol

import numpy as np

from core import types
from core import env as env_lib


def check_discrete_actions(actions, num_envs: int, num_actions: int) -> np.ndarray:
  """``actions`` as an array, after checking they are ``[num_envs]`` integers in
  ``[0, num_actions)``; raises ``ValueError`` saying what was expected otherwise."""
  actions = np.asarray(actions)
  if actions.shape != (num_envs,) or actions.dtype.kind not in 'iu':
    raise ValueError(
        f'actions must be integers of shape ({num_envs},), got dtype '
        f'{actions.dtype} shape {actions.shape}')
  if actions.min() < 0 or actions.max() >= num_actions:
    raise ValueError(
        f'actions must lie in [0, {num_actions}), got min {actions.min()} '
        f'max {actions.max()}')
  return actions


class HostStep(NamedTuple):
  """One batched step of a host vector environment.

  Attributes:
    timestep: ``types.TimeStep`` of numpy arrays ``[N, ...]``; ``reward`` is the raw
      (unclipped) reward; ``discount`` 0 where a training episode terminated.
    episode_return: ``[N]`` float: the full game's return where a game ended at this
      step, NaN elsewhere.
    episode_length: ``[N]`` int: the full game's length in agent steps where a game
      ended at this step, 0 elsewhere.
  """
  timestep: types.TimeStep
  episode_return: np.ndarray
  episode_length: np.ndarray


class HostVectorEnv(Protocol):
  """What the actor-learner runtime needs from a host vector environment."""
  num_envs: int
  spec: env_lib.EnvSpec
  frames_per_step: int  # environment frames per agent step (Atari: the action repeat)

  def reset(self, seed: int) -> HostStep:
    ...

  def step(self, actions: np.ndarray) -> HostStep:
    ...

  def close(self) -> None:
    ...


class WrappedVectorEnv:
  """Shared lifetime of the host vector envs that wrap a library's vector env in ``_env``:
  ``close()`` (safe to call twice) and use as a context manager."""
  _env: Any
  _closed: bool = False

  def close(self) -> None:
    """Closes the wrapped environments (stops their threads); further steps fail."""
    if not self._closed:
      self._closed = True
      self._env.close()

  def __enter__(self):
    return self

  def __exit__(self, *unused_exc_info) -> None:
    self.close()
