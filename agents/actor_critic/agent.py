"""Builds the actor-critic ``Agent`` from a config."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from agents import atari_torsos
from agents import networks
from agents.actor_critic import loss as loss_lib
from agents.actor_critic import network as network_lib
from agents.actor_critic import policies
from core import agent as agent_lib
from core import env as env_lib
from core import recurrent
from core.nn import lstm


class AgentState(NamedTuple):
  """The actor's recurrent state before an observation."""
  core: Any               # the recurrent core's state (``()`` when feed-forward)
  prev_action: jax.Array  # [B] int32 (or [B, A] float32) action taken before the observation


def make_torso(config: ml_collections.ConfigDict):
  if config.torso == 'mlp':
    return networks.MLP(tuple(config.hidden_sizes), networks.activation(config.activation))
  if config.torso == 'shallow':
    return atari_torsos.ShallowTorso(config.conv_implementation)
  if config.torso == 'deep':
    return atari_torsos.DeepTorso(conv_implementation=config.conv_implementation)
  raise ValueError(f"agent.torso: expected 'mlp', 'shallow' or 'deep', got {config.torso!r}")


def make_core(config: ml_collections.ConfigDict) -> recurrent.RecurrentCore | None:
  """The recurrent core named by ``config.core`` ('none' or 'lstm')."""
  if config.core == 'lstm':
    return lstm.lstm_core(config.lstm_size)
  if config.core == 'none':
    return None
  raise ValueError(f"agent.core: expected 'none' or 'lstm', got {config.core!r}")


def make_network(spec: env_lib.EnvSpec, config: ml_collections.ConfigDict,
                 core: recurrent.RecurrentCore | None = None) -> network_lib.Network:
  """The network named by ``config`` (an ``agent`` config block); ``core`` replaces the
  one ``config.core`` names."""
  core = core if core is not None else make_core(config)
  return network_lib.make_network(
      policies.for_spec(spec), make_torso(config), core,
      prev_inputs=config.lstm_prev_inputs, remat=config.remat)


def make_loss(network: network_lib.Network, policy: policies.Policy,
              config: ml_collections.ConfigDict):
  """The loss ``config.loss`` names: 'vtrace' (IMPALA) or 'nstep' (A3C)."""
  common = dict(policy=policy, discount=config.discount, baseline_cost=config.baseline_cost,
                entropy_cost=config.entropy_cost, reward_clip=config.reward_clip or None,
                reward_scale=config.reward_scale)
  if config.loss == 'vtrace':
    return loss_lib.make_vtrace_loss(
        network, lambda_=config.lambda_, clip_rho_threshold=config.clip_rho_threshold,
        clip_c_threshold=config.clip_c_threshold,
        clip_pg_rho_threshold=config.clip_pg_rho_threshold, **common)
  if config.loss == 'nstep':
    return loss_lib.make_nstep_loss(network, **common)
  raise ValueError(f"agent.loss: expected 'vtrace' or 'nstep', got {config.loss!r}")


def make_agent(spec: env_lib.EnvSpec, config: ml_collections.ConfigDict, *,
               core: recurrent.RecurrentCore | None = None) -> agent_lib.Agent:
  """The actor-critic agent: a categorical policy for discrete actions or a Gaussian one
  for continuous actions (``agents/actor_critic/policies.py``), with the V-trace (IMPALA)
  or n-step (A3C) loss.

  Args:
    spec: the environment's interface.
    config: the ``agent`` config block.
    core: any ``core.recurrent.RecurrentCore`` (a memory model) to use instead of the
      one ``config.core`` names.
  """
  network = make_network(spec, config, core)
  policy = policies.for_spec(spec)
  loss = make_loss(network, policy, config)
  greedy = config.act == 'mode'

  def initial_state(params, key, batch_size):
    return AgentState(network.initial_state(params, key, batch_size),
                      jnp.zeros((batch_size,) + policy.action_shape, policy.action_dtype))

  def step(params, key, timestep, state: AgentState):
    first = jnp.asarray(timestep.first)
    inputs = network_lib.NetInputs(
        observation=timestep.observation,
        first=first,
        prev_reward=jnp.where(first, 0.0, timestep.reward).astype(jnp.float32),
        prev_action=jnp.where(first.reshape(first.shape + (1,) * len(policy.action_shape)),
                              0, state.prev_action))
    output, core = network.step(params, inputs, state.core)
    action = policy.mode(output.policy) if greedy else policy.sample(key, output.policy)
    extras = loss_lib.ActorExtras(output.policy, inputs.prev_reward, inputs.prev_action)
    return agent_lib.StepOutput(action, extras, AgentState(core, action))

  return agent_lib.Agent(
      init=network.init, initial_state=initial_state, step=step, loss=loss)
