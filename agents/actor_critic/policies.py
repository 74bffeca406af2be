"""The actor-critic's action distributions: categorical (discrete) and Gaussian
(continuous, A3C's MuJoCo policy: a linear mean and a softplus variance per dimension).

A ``Policy`` bundles the head that turns an embedding into the distribution's parameters
and a value, and the pure functions the agent and the losses need. The parameters are a
pytree (logits, or ``GaussianParams``), so they travel through unrolls and trajectories
like any other array.
"""

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from core import env as env_lib

_LOG_2PI_E = float(jnp.log(2.0 * jnp.pi * jnp.e))


class Policy(NamedTuple):
  """Attributes:
    head: a flax module ``embedding [N, D] -> (params, value [N])``.
    sample: ``(key, params) -> action``.
    log_prob: ``(params, action) -> log π(action)`` (one number per batch element).
    entropy: ``(params) -> H(π)``.
    mode: ``(params) -> action``, the most likely action (the argmax, or the Gaussian's
      mean): how the policy acts when it is scored greedily.
    action_shape: one action's shape (``()`` for discrete actions).
    action_dtype: the actions' dtype.
  """
  head: nn.Module
  sample: Callable[[jax.Array, Any], jax.Array]
  log_prob: Callable[[Any, jax.Array], jax.Array]
  entropy: Callable[[Any], jax.Array]
  mode: Callable[[Any], jax.Array]
  action_shape: tuple[int, ...]
  action_dtype: Any


class CategoricalHead(nn.Module):
  """Logits over ``num_actions`` and a scalar value."""
  num_actions: int

  @nn.compact
  def __call__(self, x):
    logits = nn.Dense(self.num_actions, name='policy')(x)
    value = nn.Dense(1, name='value')(x)[..., 0]
    return logits, value


def categorical(num_actions: int) -> Policy:
  def log_prob(logits, action):
    log_pi = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(log_pi, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

  def entropy(logits):
    log_pi = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)

  return Policy(
      head=CategoricalHead(num_actions),
      sample=lambda key, logits: jax.random.categorical(key, logits).astype(jnp.int32),
      log_prob=log_prob, entropy=entropy,
      mode=lambda logits: jnp.argmax(logits, axis=-1).astype(jnp.int32),
      action_shape=(), action_dtype=jnp.int32)


class GaussianParams(NamedTuple):
  mean: jax.Array      # [..., A]
  variance: jax.Array  # [..., A], > 0


class GaussianHead(nn.Module):
  """A linear mean and a softplus variance per action dimension (arXiv 1602.01783,
  Sec. 5.2), and a scalar value. ``min_variance`` keeps log-probabilities finite."""
  action_size: int
  min_variance: float = 1e-4

  @nn.compact
  def __call__(self, x):
    mean = nn.Dense(self.action_size, name='mean')(x)
    variance = nn.softplus(nn.Dense(self.action_size, name='variance')(x)) + self.min_variance
    value = nn.Dense(1, name='value')(x)[..., 0]
    return GaussianParams(mean, variance), value


def gaussian(action_size: int, min_variance: float = 1e-4) -> Policy:
  """A diagonal Gaussian over ``action_size`` dimensions. Samples are not squashed: the
  environment clips them to its bounds, and the loss scores the unclipped sample."""

  def sample(key, params: GaussianParams):
    noise = jax.random.normal(key, params.mean.shape, params.mean.dtype)
    return params.mean + jnp.sqrt(params.variance) * noise

  def log_prob(params: GaussianParams, action):
    return -0.5 * jnp.sum(jnp.square(action - params.mean) / params.variance
                          + jnp.log(params.variance) + jnp.log(2.0 * jnp.pi), axis=-1)

  def entropy(params: GaussianParams):
    return 0.5 * jnp.sum(jnp.log(params.variance) + _LOG_2PI_E, axis=-1)

  return Policy(head=GaussianHead(action_size, min_variance), sample=sample,
                log_prob=log_prob, entropy=entropy, mode=lambda params: params.mean,
                action_shape=(action_size,),
                action_dtype=jnp.float32)


def for_spec(spec: env_lib.EnvSpec) -> Policy:
  """The policy an environment's actions need: categorical over ``num_actions``, or a
  Gaussian over ``action_shape`` for continuous actions."""
  if spec.action_shape:
    if len(spec.action_shape) != 1:
      raise ValueError(f'continuous actions must be vectors, got shape {spec.action_shape}')
    return gaussian(int(spec.action_shape[0]))
  return categorical(spec.num_actions)
