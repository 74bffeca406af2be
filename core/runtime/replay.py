"""A FIFO buffer of single-environment unrolls for the actor-learner's experience replay.

IMPALA's off-policy ablation (arXiv 1802.01561) draws half of each learner batch
from a replay buffer; V-trace's clipped importance weights correct for the stale
behaviour policies. Reusing unrolls this way raises the number of gradient steps per
environment frame, which is what a small frame budget is short of.

Unrolls arrive from the actors as numpy trajectories of ``N`` environments
(``[T(+1), N, ...]``, recurrent state ``[N, ...]``). The buffer keeps them as ``N``
separate rows so that a sample mixes environments (and actors) uniformly, and samples
with replacement, so it serves from the very first insert. It lives on the host and is
not checkpointed: a resumed run refills it from fresh experience.
"""

from typing import NamedTuple

import jax
import numpy as np

from core import types


class Row(NamedTuple):
  trajectory: types.Trajectory  # one environment: [T(+1), ...], agent_state [...]
  behaviour_version: int


def split_rows(trajectory: types.Trajectory) -> list[types.Trajectory]:
  """``[T(+1), N, ...]`` → ``N`` single-environment trajectories (views, no copies)."""
  n = trajectory.first.shape[1]
  time_major = trajectory._replace(agent_state=())
  rows = []
  for i in range(n):
    row = jax.tree.map(lambda x, i=i: x[:, i], time_major)
    rows.append(row._replace(
        agent_state=jax.tree.map(lambda x, i=i: x[i], trajectory.agent_state)))
  return rows


def stack_rows(rows: list[types.Trajectory]) -> types.Trajectory:
  """The inverse of ``split_rows``: ``k`` rows → one ``[T(+1), k, ...]`` trajectory."""
  time_major = jax.tree.map(lambda *x: np.stack(x, axis=1),
                            *[r._replace(agent_state=()) for r in rows])
  agent_state = jax.tree.map(lambda *x: np.stack(x, axis=0), *[r.agent_state for r in rows])
  return time_major._replace(agent_state=agent_state)


class UnrollReplay:
  """Holds the last ``capacity`` single-environment unrolls; samples them uniformly.

  Not thread-safe: the learner thread alone adds and samples.
  """

  def __init__(self, capacity: int, seed: int = 0):
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
      raise ValueError(f'replay capacity must be a positive integer, got {capacity!r}')
    self.capacity = capacity
    self._rows: list[Row] = []
    self._next = 0  # where the next row goes once the buffer is full
    self._rng = np.random.default_rng(seed)

  def __len__(self) -> int:
    return len(self._rows)

  def add(self, trajectory: types.Trajectory, behaviour_version: int) -> None:
    """Adds the ``N`` rows of an unroll, evicting the oldest rows when full."""
    for row in split_rows(trajectory):
      if len(self._rows) < self.capacity:
        self._rows.append(Row(row, behaviour_version))
      else:
        self._rows[self._next] = Row(row, behaviour_version)
        self._next = (self._next + 1) % self.capacity

  def sample(self, num_rows: int) -> tuple[types.Trajectory, list[int]]:
    """``num_rows`` rows drawn uniformly with replacement, stacked on the batch axis,
    and their behaviour versions."""
    if not self._rows:
      raise ValueError('cannot sample from an empty replay buffer')
    picks = self._rng.integers(0, len(self._rows), size=num_rows)
    rows = [self._rows[i] for i in picks]
    return stack_rows([r.trajectory for r in rows]), [r.behaviour_version for r in rows]
