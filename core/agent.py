"""The agent interface: a bundle of pure functions, not an object that mutates itself."""

from typing import Any, Callable, NamedTuple

import jax
import optax

from core import learner as learner_lib
from core import types

Params = Any
State = Any


class StepOutput(NamedTuple):
  """What ``Agent.step`` returns.

  Attributes:
    action: ``[B, ...]`` the actions to take.
    extras: what the learner needs from the behaviour policy (e.g. its logits).
    state: the recurrent state after the step.
  """
  action: Any
  extras: Any
  state: State


class Agent(NamedTuple):
  """Pure functions that define an agent.

  Attributes:
    init: ``(key, example_observation [B, ...]) -> params``.
    initial_state: ``(params, key, batch_size) -> state``, the recurrent state an episode
      starts from (``()`` for feed-forward agents); it may depend on the parameters (a
      learned initial memory) and the key (a random one).
    step: ``(params, key, timestep [B], state) -> StepOutput``: acts on one batched time
      step; resets the state where ``timestep.first`` is set.
    loss: ``(params, trajectory: types.Trajectory, key) -> (loss, metrics)``.
    make_learner: optional ``(optimizer) -> core.learner.Learner`` for agents whose
      update is more than one optimiser step on ``loss`` (target networks, two
      optimisers); None uses ``core.learner.make_learner(loss, optimizer)``.
  """
  init: Callable[[jax.Array, Any], Params]
  initial_state: Callable[[Params, jax.Array | None, int], State]
  step: Callable[[Params, jax.Array, types.TimeStep, State], StepOutput]
  loss: Callable[[Params, types.Trajectory, jax.Array], tuple[jax.Array, dict]]
  make_learner: Callable[[optax.GradientTransformation], learner_lib.Learner] | None = None
