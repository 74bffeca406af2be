"""Targets and losses of the asynchronous value-based methods (arXiv 1602.01783).

Three algorithms, each regressing ``Q(x_t, a_t; θ)`` towards a target computed with the
target network ``Q⁻ = Q(·; θ⁻)`` and never differentiated:

  q1      one-step Q-learning (Algorithm 1):  y_t = r_t + γ d_t max_a Q⁻(x_{t+1}, a)
  sarsa1  one-step Sarsa:                     y_t = r_t + γ d_t Q⁻(x_{t+1}, a_{t+1})
  qn      n-step Q-learning (Algorithm S2):   y_t = r_t + γ d_t y_{t+1},
                                              y_{T−1} = r_{T−1} + γ d_{T−1} max_a Q⁻(x_T, a)

``d_t`` is the trajectory's discount (0 at termination and at the step into a reset), so
no target reaches across an episode end. For n-step Q-learning each step gets the longest
return to the end of its segment, as in the paper: the last step's is one step long, the
first's ``T`` steps long. The loss is ``Σ ½ (y_t − Q(x_t, a_t))²`` over the steps whose
action reached the environment (``core.types.valid_steps``), summed as the paper
accumulates its gradients.

Every function that takes per-step arrays is time-major ``[T, ...]`` with any trailing
batch dims (``[T, B]`` in the agent); q-values carry the action dim last.
"""

import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import rlax

from core import returns
from core import types

Array = jax.Array

ALGORITHMS = ('q1', 'sarsa1', 'qn')


def _vmap_over_leading(fn: Callable[..., Array], num_leading: int, *arrays: Array) -> Array:
  """Applies a one-transition rlax function to every index of the ``num_leading`` leading
  dims (time and batch) shared by ``arrays``."""
  lead_shape = arrays[0].shape[:num_leading]
  count = math.prod(lead_shape)  # explicit, so empty batches reshape unambiguously
  flat = [x.reshape((count,) + x.shape[num_leading:]) for x in arrays]
  return jax.vmap(fn)(*flat).reshape(lead_shape)


def clip_rewards(rewards: Array, reward_clip: Optional[float]) -> Array:
  """Rewards clipped to ``[-reward_clip, reward_clip]``; unchanged when it is 0 or None
  (the paper clips Atari rewards to ±1 so that one learning rate fits all games)."""
  rewards = jnp.asarray(rewards, jnp.float32)
  if reward_clip:
    rewards = jnp.clip(rewards, -reward_clip, reward_clip)
  return rewards


def q_learning_td_errors(q_tm1: Array, a_tm1: Array, r_t: Array, discount_t: Array,
                         q_t: Array) -> Array:
  """One-step Q-learning TD errors ``r_t + discount_t max_a q_t[a] − q_tm1[a_tm1]``.

  Wraps ``rlax.q_learning`` (the target is stop-gradient).

  Args:
    q_tm1: ``[T, ..., A]`` ``Q(x_t, ·)`` of the network being trained.
    a_tm1: ``[T, ...]`` int actions ``a_t``.
    r_t: ``[T, ...]`` rewards ``r_t``.
    discount_t: ``[T, ...]`` ``γ d_t``.
    q_t: ``[T, ..., A]`` ``Q⁻(x_{t+1}, ·)`` of the target network.

  Returns:
    ``[T, ...]`` TD errors.
  """
  return _vmap_over_leading(rlax.q_learning, a_tm1.ndim, q_tm1, a_tm1,
                            jnp.asarray(r_t, jnp.float32),
                            jnp.asarray(discount_t, jnp.float32), q_t)


def sarsa_td_errors(q_tm1: Array, a_tm1: Array, r_t: Array, discount_t: Array,
                    q_t: Array, a_t: Array) -> Array:
  """One-step Sarsa TD errors ``r_t + discount_t q_t[a_t] − q_tm1[a_tm1]``.

  Wraps ``rlax.sarsa`` (the target is stop-gradient). ``a_t[t]`` is the action taken at
  ``x_{t+1}`` (``a_{t+1}`` in the paper's indexing); the caller supplies the one after
  the unroll's last observation (see ``make_loss``).

  Args:
    q_tm1: ``[T, ..., A]`` ``Q(x_t, ·)`` of the network being trained.
    a_tm1: ``[T, ...]`` int actions ``a_t``.
    r_t: ``[T, ...]`` rewards ``r_t``.
    discount_t: ``[T, ...]`` ``γ d_t``.
    q_t: ``[T, ..., A]`` ``Q⁻(x_{t+1}, ·)`` of the target network.
    a_t: ``[T, ...]`` int actions ``a_{t+1}`` taken at ``x_{t+1}``.

  Returns:
    ``[T, ...]`` TD errors.
  """
  return _vmap_over_leading(rlax.sarsa, a_tm1.ndim, q_tm1, a_tm1,
                            jnp.asarray(r_t, jnp.float32),
                            jnp.asarray(discount_t, jnp.float32), q_t, a_t)


def n_step_q_targets(r_t: Array, discount_t: Array, q_t: Array,
                     mask: Optional[Array] = None) -> Array:
  """n-step Q-learning targets (Algorithm S2): the return to the end of the segment,
  bootstrapped with ``max_a Q⁻(x_T, a)``.

  ``core.returns.lambda_returns`` at λ = 1 with ``values[t] = max_a q_t[t]``: only the
  last value enters unless a discount cuts the return earlier (a termination: the return
  stops there; a masked reset step: the step before bootstraps from the final
  observation's ``max_a Q⁻``, as from the end of a segment).

  Args:
    r_t: ``[T, ...]`` rewards.
    discount_t: ``[T, ...]`` ``γ d_t``.
    q_t: ``[T, ..., A]`` ``Q⁻(x_{t+1}, ·)`` of the target network.
    mask: optional ``[T, ...]`` ``core.types.valid_steps``.

  Returns:
    ``[T, ...]`` stop-gradient targets.
  """
  values = jnp.max(q_t, axis=-1)
  return jax.lax.stop_gradient(
      returns.lambda_returns(r_t, discount_t, values, lambda_=1.0, mask=mask))


def n_step_q_td_errors(q_tm1: Array, a_tm1: Array, r_t: Array, discount_t: Array,
                       q_t: Array, mask: Optional[Array] = None) -> Array:
  """``n_step_q_targets − q_tm1[a_tm1]``, ``[T, ...]`` (arguments as there)."""
  q_a = jnp.take_along_axis(q_tm1, a_tm1[..., None], axis=-1)[..., 0]
  return n_step_q_targets(r_t, discount_t, q_t, mask) - q_a


def td_loss(td_errors: Array, mask: Array) -> Array:
  """``Σ ½ td²`` over the steps where ``mask`` is set (a sum, not a mean: the paper
  accumulates gradients over a worker's steps)."""
  return 0.5 * jnp.sum(jnp.where(mask, jnp.square(td_errors), 0.0))


def _masked_mean(x: Array, mask: Array) -> Array:
  return jnp.sum(jnp.where(mask, x, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


QValuesFn = Callable[[object, object], Array]  # (params, observation [T, B, ...]) -> [T, B, A]
# (params, trajectory, key) -> [B] the action the behaviour policy takes at x_T.
BootstrapActionFn = Callable[[object, types.Trajectory, jax.Array], Array]


def make_loss(q_values: QValuesFn, *, algorithm: str, discount: float,
              reward_clip: Optional[float] = None,
              bootstrap_action: Optional[BootstrapActionFn] = None):
  """``loss(params, target_params, trajectory, key) -> (loss, metrics)``.

  Args:
    q_values: the network, ``(params, observation [T, B, ...]) -> [T, B, A]``.
    algorithm: 'q1', 'sarsa1' or 'qn' (module docstring).
    discount: γ.
    reward_clip: clip rewards to ``[-reward_clip, reward_clip]`` when set (Atari: 1).
    bootstrap_action: Sarsa only: the action ``a_T`` at the unroll's last observation.
      A trajectory holds the actions ``a_0 .. a_{T−1}``; the one taken at ``x_T`` is the
      first of the next unroll, chosen after this gradient is taken. Sarsa's target
      needs an action of the behaviour policy there, so the agent draws one
      (``agents.q_learning.agent``: ε-greedy on the acting parameters with the ε the
      worker has at ``x_T``). It is a sample from the same distribution as the action
      the worker will take, not that very action.

  Raises:
    ValueError: on an unknown algorithm, or Sarsa without ``bootstrap_action``.
  """
  if algorithm not in ALGORITHMS:
    raise ValueError(f'algorithm: expected one of {ALGORITHMS}, got {algorithm!r}')
  if algorithm == 'sarsa1' and bootstrap_action is None:
    raise ValueError('sarsa1 needs bootstrap_action: the action at the last observation')

  def loss(params, target_params, trajectory: types.Trajectory, key=None):
    observation = trajectory.observation
    q_tm1 = q_values(params, jax.tree.map(lambda x: x[:-1], observation))
    q_t = jax.lax.stop_gradient(
        q_values(target_params, jax.tree.map(lambda x: x[1:], observation)))
    actions = jnp.asarray(trajectory.action, jnp.int32)
    rewards = clip_rewards(trajectory.reward, reward_clip)
    discounts = jnp.asarray(trajectory.discount, jnp.float32) * discount
    valid = types.valid_steps(trajectory)
    if algorithm == 'q1':
      td = q_learning_td_errors(q_tm1, actions, rewards, discounts, q_t)
    elif algorithm == 'sarsa1':
      last_action = jax.lax.stop_gradient(bootstrap_action(params, trajectory, key))
      next_actions = jnp.concatenate(
          [actions[1:], jnp.asarray(last_action, jnp.int32)[None]], axis=0)
      td = sarsa_td_errors(q_tm1, actions, rewards, discounts, q_t, next_actions)
    else:
      td = n_step_q_td_errors(q_tm1, actions, rewards, discounts, q_t, mask=valid)
    total = td_loss(td, valid)
    q_a = jnp.take_along_axis(q_tm1, actions[..., None], axis=-1)[..., 0]
    metrics = {
        'loss': total,
        'q_value': _masked_mean(q_a, valid),
        'abs_td_error': _masked_mean(jnp.abs(td), valid),
    }
    return total, metrics

  return loss
