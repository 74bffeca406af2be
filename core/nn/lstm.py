"""The LSTM as a recurrent core (``core.recurrent``): agents and memory controllers use it."""

import flax.linen as nn
import jax.numpy as jnp

from core import recurrent


class LSTM(nn.Module):
  """An LSTM cell in the unroll convention ``(state, x_t) -> (state, y_t)``.

  The state is flax's ``(c, h)`` carry; ``zero_state`` gives the episode-start state.
  """
  size: int

  @nn.compact
  def __call__(self, state, x):
    return nn.OptimizedLSTMCell(self.size, name='cell')(state, x)

  def zero_state(self, batch_size: int):
    zeros = jnp.zeros((batch_size, self.size))  # the default float (float64 under x64)
    return (zeros, zeros)


def lstm_core(size: int) -> recurrent.RecurrentCore:
  """An LSTM of ``size`` units as a ``core.recurrent.RecurrentCore``."""
  module = LSTM(size)
  return recurrent.from_flax(module, module.zero_state)
