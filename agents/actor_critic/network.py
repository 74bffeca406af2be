"""The actor-critic network as pure functions: torso -> optional recurrent core -> heads."""

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from agents import networks
from core import unroll as unroll_lib


class NetOutput(NamedTuple):
  logits: jax.Array  # [..., A]
  value: jax.Array   # [...]


class Network(NamedTuple):
  """Pure functions of an actor-critic network.

  Attributes:
    init: ``(key, observation [B, ...]) -> params``.
    initial_state: ``(batch_size) -> state`` (``()`` without a recurrent core).
    unroll: ``(params, observation [T, B, ...], first [T, B], state) ->
      (NetOutput [T, B], final_state)``.
    step: ``(params, observation [B, ...], first [B], state) -> (NetOutput [B], state)``.
  """
  init: Callable[..., Any]
  initial_state: Callable[[int], Any]
  unroll: Callable[..., tuple[NetOutput, Any]]
  step: Callable[..., tuple[NetOutput, Any]]


def make_network(num_actions: int,
                 torso: nn.Module,
                 core: networks.LSTM | None = None,
                 *,
                 remat: bool = False) -> Network:
  """Composes a torso, an optional recurrent core and a policy/value head."""
  head = networks.PolicyValueHead(num_actions)

  def initial_state(batch_size):
    return () if core is None else core.zero_state(batch_size)

  def init(key, observation):
    torso_key, core_key, head_key = jax.random.split(key, 3)
    params = {'torso': torso.init(torso_key, observation)}
    embedding = torso.apply(params['torso'], observation)
    if core is not None:
      state = initial_state(observation.shape[0])
      params['core'] = core.init(core_key, state, embedding)
      _, embedding = core.apply(params['core'], state, embedding)
    params['head'] = head.init(head_key, embedding)
    return params

  def unroll(params, observation, first, state):
    num_steps, batch_size = first.shape
    flat = jax.tree.map(lambda x: x.reshape((num_steps * batch_size,) + x.shape[2:]),
                        observation)
    embedding = torso.apply(params['torso'], flat)
    embedding = embedding.reshape((num_steps, batch_size) + embedding.shape[1:])
    if core is not None:
      cell = lambda s, x: core.apply(params['core'], s, x)
      embedding, state = unroll_lib.unroll(
          cell, state, embedding, first, initial_state(batch_size), remat=remat)
    logits, value = head.apply(params['head'], embedding)
    return NetOutput(logits, value), state

  def step(params, observation, first, state):
    add_time = lambda x: x[None]
    output, state = unroll(params, jax.tree.map(add_time, observation), first[None], state)
    return jax.tree.map(lambda x: x[0], output), state

  return Network(init=init, initial_state=initial_state, unroll=unroll, step=step)
