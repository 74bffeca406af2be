"""Time-major data types shared by environments, agents and runtimes.

Conventions (DESIGN.md):
  * Arrays are time-major: ``[T, B, ...]``. A trajectory of ``T`` transitions carries
    ``T + 1`` observations so that the last one bootstraps.
  * ``first[t]`` is set when ``observation[t]`` starts an episode; recurrent cores reset
    their state there.
  * ``discount[t]`` multiplies the value of ``observation[t + 1]``: it is 0 when the
    transition ``t -> t + 1`` terminates the episode. Environments report 1 (not γ) on
    non-terminal steps; agents apply their own γ.
"""

from typing import Any, NamedTuple

import jax

PyTree = Any
Array = jax.Array


class TimeStep(NamedTuple):
  """What an environment emits after a reset or a step (batched: ``[B, ...]``).

  Attributes:
    observation: the observation ``x_t`` the agent acts on.
    reward: reward received on arriving at ``x_t`` (0 at the first step).
    discount: 0 if arriving at ``x_t`` ended the episode by termination, else 1.
    first: ``x_t`` is the first observation of an episode.
    last: the transition into ``x_t`` ended an episode (terminated or truncated). With
      auto-reset, ``observation`` is then already the next episode's first observation
      and ``first`` is set as well.
  """
  observation: PyTree
  reward: Array
  discount: Array
  first: Array
  last: Array


class Trajectory(NamedTuple):
  """An unroll of ``T`` transitions, time-major.

  Attributes:
    observation: ``[T + 1, B, ...]`` observations ``x_0 .. x_T``.
    first: ``[T + 1, B]`` episode-start flags of the observations.
    action: ``[T, B, ...]`` actions ``a_t`` taken at ``x_t``.
    reward: ``[T, B]`` reward ``r_t`` for the transition ``x_t -> x_{t+1}``.
    discount: ``[T, B]`` 0 where that transition ended the episode, else 1. On-device
      runtimes auto-reset, so after a truncation ``x_{t+1}`` already belongs to the next
      episode and there is no final state to bootstrap from: truncation then counts as
      termination here (as in IMPALA's released code).
    behaviour_extras: ``[T, B, ...]`` what the acting policy recorded (e.g. logits).
    agent_state: recurrent state at the start of the unroll, ``[B, ...]`` leaves.
  """
  observation: PyTree
  first: Array
  action: Array
  reward: Array
  discount: Array
  behaviour_extras: PyTree
  agent_state: PyTree
