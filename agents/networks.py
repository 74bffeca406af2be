"""Network pieces shared by agents: torsos and heads (flax linen). Recurrent cores are in
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


class PolicyValueHead(nn.Module):
  """Policy logits and a scalar state value from an embedding ``[N, D]``."""
  num_actions: int

  @nn.compact
  def __call__(self, x):
    logits = nn.Dense(self.num_actions, name='policy')(x)
    value = nn.Dense(1, name='value')(x)[..., 0]
    return logits, value


ACTIVATIONS = {'tanh': nn.tanh, 'relu': nn.relu, 'elu': nn.elu}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ValueError(f'unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}')
  return ACTIVATIONS[name]
