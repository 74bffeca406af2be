"""Optimisers from config: optax chains with gradient clipping and a learning-rate schedule."""

import ml_collections
import optax


def learning_rate_schedule(config: ml_collections.ConfigDict, total_updates: int) -> optax.Schedule:
  """``constant``, or ``linear`` decay to 0 over ``total_updates`` (IMPALA, A3C)."""
  if config.schedule == 'constant':
    return optax.constant_schedule(config.learning_rate)
  if config.schedule == 'linear':
    return optax.linear_schedule(config.learning_rate, 0.0, max(total_updates, 1))
  raise ValueError(
      f"optimizer.schedule: expected 'constant' or 'linear', got {config.schedule!r}")


def make_optimizer(config: ml_collections.ConfigDict, total_updates: int) -> optax.GradientTransformation:
  """The optimiser described by an ``optimizer`` config block.

  Fields: ``name`` (rmsprop | adam | sgd), ``learning_rate``, ``schedule``,
  ``max_grad_norm`` (global-norm clip; 0 disables it), and per-optimiser ``decay``,
  ``eps``, ``momentum``, ``centered`` (rmsprop) or ``b1``, ``b2``, ``eps`` (adam).
  RMSProp puts ε inside the square root, as TensorFlow's RMSProp does, so the papers'
  ε values carry over.
  """
  lr = learning_rate_schedule(config, total_updates)
  if config.name == 'rmsprop':
    opt = optax.rmsprop(lr, decay=config.decay, eps=config.eps, eps_in_sqrt=True,
                        momentum=config.momentum or None, centered=config.centered)
  elif config.name == 'adam':
    opt = optax.adam(lr, b1=config.b1, b2=config.b2, eps=config.eps)
  elif config.name == 'sgd':
    opt = optax.sgd(lr, momentum=config.momentum or None)
  else:
    raise ValueError(
        f"optimizer.name: expected one of 'rmsprop', 'adam', 'sgd', got {config.name!r}")
  if config.max_grad_norm:
    opt = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), opt)
  return opt
