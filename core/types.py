"""Time-major data types shared by environments, agents and runtimes.

Conventions:
  * Arrays are time-major: ``[T, B, ...]``. A trajectory of ``T`` transitions carries
    ``T + 1`` observations so that the last one bootstraps.
  * ``first[t]`` is set when ``observation[t]`` starts an episode; recurrent cores reset
    their state there.
  * ``discount[t]`` multiplies the value of ``observation[t + 1]``: 0 when the transition
    ``t -> t + 1`` terminates the episode, 1 otherwise (truncation included: a time limit
    is not a termination). Environments report 1, not γ; agents apply their own γ.
  * Episode ends (``core.env.auto_reset``): a terminated episode may reset on the same
    step (``observation[t + 1]`` is the next episode's first, nothing bootstraps from
    it). A truncated episode keeps its final observation as ``observation[t + 1]``
    (``last`` set, ``first`` not) so the learner bootstraps from it; the step taken *at*
    that final observation is a reset step: the environment ignores its action. Some
    environments end terminated episodes the same way (gymnasium's and ale-py's
    next-step resets), with discount 0 into the final observation. ``valid_steps``
    marks the steps that are not reset steps, and losses count only those.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

PyTree = Any
Array = jax.Array


class TimeStep(NamedTuple):
  """What an environment emits after a reset or a step (batched: ``[B, ...]``).

  Attributes:
    observation: the observation ``x_t`` the agent acts on.
    reward: reward received on arriving at ``x_t`` (0 at the first step).
    discount: 0 if arriving at ``x_t`` ended the episode by termination, else 1.
    first: ``x_t`` is the first observation of an episode.
    last: the transition into ``x_t`` ended an episode. Terminated: ``observation`` is
      already the next episode's first and ``first`` is set too. Truncated: it is the
      episode's final observation and ``first`` is not set.
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
    last: ``[T + 1, B]`` episode-end flags of the observations (``TimeStep.last``).
    action: ``[T, B, ...]`` actions ``a_t`` taken at ``x_t``.
    reward: ``[T, B]`` reward ``r_t`` for the transition ``x_t -> x_{t+1}``.
    discount: ``[T, B]`` 0 where that transition terminated the episode or is a reset
      step (see ``valid_steps``), else 1.
    behaviour_extras: ``[T, B, ...]`` what the acting policy recorded (e.g. logits).
    agent_state: recurrent state at the start of the unroll, ``[B, ...]`` leaves.
  """
  observation: PyTree
  first: Array
  last: Array
  action: Array
  reward: Array
  discount: Array
  behaviour_extras: PyTree
  agent_state: PyTree


def transition_discount(next_timestep: TimeStep):
  """``discount[t]`` of the transition into ``next_timestep`` (numpy or jax arrays).

  0 where it terminated (discount 0) or began a new episode (a reset step), else 1.
  """
  first = next_timestep.first
  return next_timestep.discount * (1 - first.astype(next_timestep.discount.dtype))


def valid_steps(trajectory: Trajectory) -> Array:
  """``[T, B]`` bool: step ``t``'s action reached the environment.

  False only at an episode's final observation kept for bootstrapping (``last`` without
  ``first``: a truncation, or a termination with a next-step reset), where the next
  step is a reset that ignores the action.
  """
  last, first = trajectory.last[:-1], trajectory.first[:-1]
  return jnp.logical_not(jnp.logical_and(last, jnp.logical_not(first)))
