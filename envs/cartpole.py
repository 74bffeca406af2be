"""CartPole-v1 as a JAX-native environment.

The dynamics, thresholds, reset distribution and rewards match gymnasium's
``CartPole-v1`` (Barto, Sutton & Anderson 1983; equations from Florian 2007,
https://coneural.org/florian/papers/05_cart_pole.pdf) with explicit Euler integration,
so a policy trained here transfers to the gymnasium environment. The state is float32
where gymnasium keeps float64; one step agrees to about 1e-7.

Observation: ``[4]`` float32 ``(x, x_dot, theta, theta_dot)``.
Actions: 0 pushes the cart left, 1 pushes it right.
Reward: 1 for every step, the terminating one included.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from core import env as env_lib
from core import types

_GRAVITY = 9.8
_MASS_CART = 1.0
_MASS_POLE = 0.1
_TOTAL_MASS = _MASS_CART + _MASS_POLE
_HALF_LENGTH = 0.5  # Gymnasium's ``length`` is half the pole's length.
_POLE_MASS_LENGTH = _MASS_POLE * _HALF_LENGTH
_FORCE = 10.0
_TAU = 0.02  # Seconds per step.
_THETA_THRESHOLD = 12 * 2 * math.pi / 360
_X_THRESHOLD = 2.4
_RESET_BOUND = 0.05


class CartPoleState(NamedTuple):
  """State of one cart-pole (all leaves scalars).

  Attributes:
    x: cart position.
    x_dot: cart velocity.
    theta: pole angle from vertical, in radians.
    theta_dot: pole angular velocity.
    t: steps taken in this episode (int32), for truncation.
  """
  x: jax.Array
  x_dot: jax.Array
  theta: jax.Array
  theta_dot: jax.Array
  t: jax.Array


def _observation(state: CartPoleState) -> jax.Array:
  return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot])


def _check_action(action) -> jax.Array:
  action = jnp.asarray(action)
  if action.shape != () or not jnp.issubdtype(action.dtype, jnp.integer):
    raise ValueError(
        'cartpole expects one scalar integer action per environment, got shape '
        f'{action.shape} and dtype {action.dtype}; batch with core.env.batched')
  return action


def make(*, max_episode_steps: int | None = 500) -> env_lib.Environment:
  """Builds CartPole-v1.

  Args:
    max_episode_steps: the episode is truncated (``last`` with discount 1) after this
      many steps; None never truncates. Gymnasium's ``CartPole-v1`` uses 500.

  Returns:
    An ``Environment`` whose ``step`` must not be called again after ``last`` (the
    dynamics carry on, as gymnasium's do, but the episode is over); wrap it in
    ``core.env.auto_reset`` to start new episodes (a terminated episode resets on
    the same step; a truncated one keeps its final observation and resets on the
    next step).

  Raises:
    ValueError: if ``max_episode_steps`` is not a positive integer or None.
  """
  if max_episode_steps is not None and (
      isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int)
      or max_episode_steps < 1):
    raise ValueError(
        'max_episode_steps must be a positive integer or None, got '
        f'{max_episode_steps!r}')

  def reset(key: jax.Array) -> tuple[CartPoleState, types.TimeStep]:
    x, x_dot, theta, theta_dot = jax.random.uniform(
        key, (4,), jnp.float32, -_RESET_BOUND, _RESET_BOUND)
    state = CartPoleState(x, x_dot, theta, theta_dot, jnp.zeros((), jnp.int32))
    return state, env_lib.restart(_observation(state))

  def step(state: CartPoleState,
           action: jax.Array) -> tuple[CartPoleState, types.TimeStep]:
    action = _check_action(action)
    # Gymnasium pushes left for every action other than 1; keep that for parity.
    force = jnp.where(action == 1, _FORCE, -_FORCE).astype(jnp.float32)
    cos_theta = jnp.cos(state.theta)
    sin_theta = jnp.sin(state.theta)
    temp = (force + _POLE_MASS_LENGTH * state.theta_dot**2 * sin_theta) / _TOTAL_MASS
    theta_acc = (_GRAVITY * sin_theta - cos_theta * temp) / (
        _HALF_LENGTH * (4.0 / 3.0 - _MASS_POLE * cos_theta**2 / _TOTAL_MASS))
    x_acc = temp - _POLE_MASS_LENGTH * theta_acc * cos_theta / _TOTAL_MASS
    # Explicit Euler: positions advance with the old velocities, as in gymnasium.
    next_state = CartPoleState(
        x=state.x + _TAU * state.x_dot,
        x_dot=state.x_dot + _TAU * x_acc,
        theta=state.theta + _TAU * state.theta_dot,
        theta_dot=state.theta_dot + _TAU * theta_acc,
        t=state.t + 1)
    terminated = ((jnp.abs(next_state.x) > _X_THRESHOLD)
                  | (jnp.abs(next_state.theta) > _THETA_THRESHOLD))
    if max_episode_steps is None:
      truncated = jnp.zeros((), jnp.bool_)
    else:
      truncated = next_state.t >= max_episode_steps
    timestep = env_lib.transition(
        _observation(next_state), 1.0, terminated, truncated)
    return next_state, timestep

  spec = env_lib.EnvSpec((4,), jnp.float32, 2, max_episode_steps)
  return env_lib.Environment(reset=reset, step=step, spec=spec)
