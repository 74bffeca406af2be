"""The actor-critic network as pure functions: torso -> optional recurrent core -> heads.

With ``prev_inputs`` the recurrent core also sees the previous reward (clipped to
[-1, 1]) and the previous action (one-hot for discrete actions, the vector itself for
continuous ones), as in IMPALA's LSTM agent; both are zero at an episode's first step.
The head is the policy's (``agents/actor_critic/policies.py``): categorical logits or a
Gaussian's mean and variance, and a value.
"""

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from agents.actor_critic import policies
from core import recurrent


class NetInputs(NamedTuple):
  """Per-step network inputs, ``[T, B, ...]`` for an unroll or ``[B, ...]`` for a step."""
  observation: Any
  first: jax.Array        # bool: the observation starts an episode
  prev_reward: jax.Array  # float: reward received on arriving at the observation
  prev_action: jax.Array  # action taken before the observation


class NetOutput(NamedTuple):
  policy: Any        # the distribution's parameters (logits [..., A], or GaussianParams)
  value: jax.Array   # [...]


class Network(NamedTuple):
  """Pure functions of an actor-critic network.

  Attributes:
    init: ``(key, observation [B, ...]) -> params``.
    initial_state: ``(params, key, batch_size) -> state`` (``()`` without a recurrent
      core).
    unroll: ``(params, NetInputs [T, B], state) -> (NetOutput [T, B], final_state)``.
    step: ``(params, NetInputs [B], state) -> (NetOutput [B], state)``.
  """
  init: Callable[..., Any]
  initial_state: Callable[[Any, Any, int], Any]
  unroll: Callable[..., tuple[NetOutput, Any]]
  step: Callable[..., tuple[NetOutput, Any]]


def make_network(policy: policies.Policy,
                 torso: nn.Module,
                 core: recurrent.RecurrentCore | None = None,
                 *,
                 prev_inputs: bool = False,
                 remat: bool = False) -> Network:
  """Composes a torso, an optional recurrent core (any ``core.recurrent.RecurrentCore``:
  an LSTM, a memory model) and a policy/value head."""
  head = policy.head

  def initial_state(params, key, batch_size):
    return () if core is None else core.initial_state(params['core'], key, batch_size)

  def core_inputs(embedding, inputs: NetInputs):
    if not prev_inputs:
      return embedding
    not_first = 1.0 - inputs.first.astype(jnp.float32)
    reward = jnp.clip(inputs.prev_reward, -1.0, 1.0) * not_first
    if policy.action_shape:
      action = inputs.prev_action * not_first[..., None]
    else:
      num_actions = policy.head.num_actions
      action = jax.nn.one_hot(inputs.prev_action, num_actions) * not_first[..., None]
    return jnp.concatenate([embedding, reward[..., None], action], axis=-1)

  def init(key, observation):
    torso_key, core_key, head_key = jax.random.split(key, 3)
    batch_size = jax.tree.leaves(observation)[0].shape[0]
    params = {'torso': torso.init(torso_key, observation)}
    embedding = torso.apply(params['torso'], observation)
    if core is not None:
      zeros = jnp.zeros((batch_size,))
      prev_action = jnp.zeros((batch_size,) + policy.action_shape, policy.action_dtype)
      inputs = NetInputs(observation, zeros.astype(bool), zeros, prev_action)
      embedding = core_inputs(embedding, inputs)
      init_key, state_key = jax.random.split(core_key)
      params['core'] = core.init(init_key, embedding)
      state = core.initial_state(params['core'], state_key, batch_size)
      _, embedding = core.step(params['core'], state, embedding)
    params['head'] = head.init(head_key, embedding)
    return params

  def unroll(params, inputs: NetInputs, state):
    num_steps, batch_size = inputs.first.shape
    flat = jax.tree.map(lambda x: x.reshape((num_steps * batch_size,) + x.shape[2:]),
                        inputs.observation)
    embedding = torso.apply(params['torso'], flat)
    embedding = embedding.reshape((num_steps, batch_size) + embedding.shape[1:])
    if core is not None:
      embedding, state = recurrent.unroll(
          core, params['core'], state, core_inputs(embedding, inputs), inputs.first,
          remat=remat)
    policy_params, value = head.apply(params['head'], embedding)
    return NetOutput(policy_params, value), state

  def step(params, inputs: NetInputs, state):
    output, state = unroll(params, jax.tree.map(lambda x: x[None], inputs), state)
    return jax.tree.map(lambda x: x[0], output), state

  return Network(init=init, initial_state=initial_state, unroll=unroll, step=step)
