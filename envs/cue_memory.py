"""A partially observed cue-recall task that only an agent with memory can solve.

An episode is ``delay + 2`` steps:

  observation 0            the cue: one of ``num_cues`` symbols, drawn uniformly
  observations 1 .. delay  blank
  observation delay + 1    blank, with the query flag set
  observation delay + 2    blank; the episode has terminated

The action taken at the query observation ends the episode with reward 1 if it names
the cue and 0 otherwise; every earlier action does nothing and earns 0. An episode's
return is therefore 1 or 0 and the mean return is the fraction recalled correctly. At
the query nothing in the observation depends on the cue, so a feed-forward policy is at
chance (``1 / num_cues``); a recurrent policy that stores the cue reaches 1.

Observation: ``[num_cues + 1]`` float32, ``concat(one_hot(cue) if shown else zeros,
[query flag])``.
Actions: ``num_cues``; action ``i`` names cue ``i``.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from core import env as env_lib
from core import types


class CueMemoryState(NamedTuple):
  """State of one episode (scalar int32 leaves).

  Attributes:
    cue: the cue to recall, in ``[0, num_cues)``.
    t: steps taken in this episode; observation ``t`` is the one shown.
  """
  cue: jax.Array
  t: jax.Array


def _check_int(name: str, value, minimum: int) -> None:
  # bool is an int subclass, but True as a count is a caller's mistake.
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f'{name} must be an integer >= {minimum}, got {value!r}')


def make(*, num_cues: int = 4, delay: int = 5) -> env_lib.Environment:
  """Builds the cue-recall task.

  Args:
    num_cues: number of distinct cues, which is also the number of actions.
    delay: number of blank steps between the cue and the query.

  Returns:
    An ``Environment``. Episodes always terminate after ``delay + 2`` steps, so the spec's
    ``max_episode_steps`` is None (nothing is ever truncated).

  Raises:
    ValueError: if ``num_cues < 2`` or ``delay < 0``, or either is not an integer.
  """
  _check_int('num_cues', num_cues, 2)
  _check_int('delay', delay, 0)
  query_t = delay + 1

  def observe(state: CueMemoryState) -> jax.Array:
    cue = jax.nn.one_hot(state.cue, num_cues, dtype=jnp.float32)
    cue = jnp.where(state.t == 0, cue, jnp.zeros_like(cue))
    query = (state.t == query_t).astype(jnp.float32)
    return jnp.concatenate([cue, query[None]])

  def reset(key: jax.Array) -> tuple[CueMemoryState, types.TimeStep]:
    cue = jax.random.randint(key, (), 0, num_cues, dtype=jnp.int32)
    state = CueMemoryState(cue=cue, t=jnp.zeros((), jnp.int32))
    return state, env_lib.restart(observe(state))

  def step(state: CueMemoryState,
           action: jax.Array) -> tuple[CueMemoryState, types.TimeStep]:
    action = jnp.asarray(action)
    if action.shape != () or not jnp.issubdtype(action.dtype, jnp.integer):
      raise ValueError(
          'cue_memory expects one scalar integer action per environment, got shape '
          f'{action.shape} and dtype {action.dtype}; batch with core.env.batched')
    at_query = state.t == query_t
    reward = (at_query & (action == state.cue)).astype(jnp.float32)
    next_state = state._replace(t=state.t + 1)
    timestep = env_lib.transition(
        observe(next_state), reward, at_query, jnp.zeros((), jnp.bool_))
    return next_state, timestep

  spec = env_lib.EnvSpec((num_cues + 1,), jnp.float32, num_cues, None)
  return env_lib.Environment(reset=reset, step=step, spec=spec)
