"""The agent interface: a bundle of pure functions, not an object that mutates itself."""

from typing import Any, Callable, NamedTuple

from core import types

Params = Any
State = Any


class Agent(NamedTuple):
  """Pure functions that define an agent (DESIGN.md).

  Attributes:
    init: ``(key, example_observation [B, ...]) -> params``.
    initial_state: ``(batch_size) -> state``, the recurrent state an episode starts
      from (``()`` for feed-forward agents).
    step: ``(params, key, timestep [B], state) -> (action [B], extras, state)``: acts on
      one batched time step; resets the state where ``timestep.first`` is set. ``extras``
      is what the learner needs from the behaviour policy (e.g. its logits).
    loss: ``(params, trajectory: types.Trajectory) -> (loss, metrics)``.
  """
  init: Callable[..., Params]
  initial_state: Callable[[int], State]
  step: Callable[[Params, Any, types.TimeStep, State], tuple[Any, Any, State]]
  loss: Callable[[Params, types.Trajectory], tuple[Any, dict]]
