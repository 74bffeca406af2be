"""Episode-end bookkeeping: which steps are agent transitions, and their discounts."""

import numpy as np

from core import types


def test_valid_steps_and_discounts_around_a_truncation_and_a_termination():
  # Observations x_0..x_5 of one environment:
  #   x_2 is a truncated episode's final observation (last, not first),
  #   x_3 starts the next episode (the reset step x_2 -> x_3 ignored its action),
  #   x_5 follows a termination that reset on the same step (last and first).
  first = np.array([1, 0, 0, 1, 0, 1], bool)
  last = np.array([0, 0, 1, 0, 0, 1], bool)
  env_discount = np.array([1, 1, 1, 1, 1, 0], np.float32)   # discount of x_t's TimeStep
  trajectory = types.Trajectory(
      observation=np.zeros((6, 1)), first=first[:, None], last=last[:, None],
      action=np.zeros((5, 1)), reward=np.zeros((5, 1)),
      discount=np.zeros((5, 1)), behaviour_extras=(), agent_state=())
  np.testing.assert_array_equal(types.valid_steps(trajectory)[:, 0],
                                [True, True, False, True, True])
  discounts = [types.transition_discount(types.TimeStep(
      None, 0.0, env_discount[t + 1:t + 2], first[t + 1:t + 2], last[t + 1:t + 2]))[0]
               for t in range(5)]
  # Into the truncation: 1 (bootstrap); the reset step: 0; into the termination: 0.
  np.testing.assert_array_equal(discounts, [1, 1, 0, 1, 0])
