"""Network pieces shared by agents: torsos (flax linen). Recurrent cores are in
``core/nn`` (shared with the memory models)."""

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
  """A multi-layer perceptron torso: flattens its input, then dense layers."""
  hidden_sizes: Sequence[int]
  activation: Callable = nn.tanh

  @nn.compact
  def __call__(self, x):
    x = jnp.reshape(x, (x.shape[0], -1)).astype(jnp.float32)
    for size in self.hidden_sizes:
      x = self.activation(nn.Dense(size)(x))
    return x


ACTIVATIONS = {'tanh': nn.tanh, 'relu': nn.relu, 'elu': nn.elu}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ValueError(f'unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}')
  return ACTIVATIONS[name]
