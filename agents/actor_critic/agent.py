"""Builds the actor-critic ``Agent`` from a config."""

import jax
import ml_collections

from agents import networks
from agents.actor_critic import loss as loss_lib
from agents.actor_critic import network as network_lib
from core import agent as agent_lib
from envs import base


def make_network(spec: base.EnvSpec, config: ml_collections.ConfigDict) -> network_lib.Network:
  """The network named by ``config`` (an ``agent`` config block)."""
  torso = networks.MLP(tuple(config.hidden_sizes), networks.activation(config.activation))
  core = networks.LSTM(config.lstm_size) if config.core == 'lstm' else None
  return network_lib.make_network(spec.num_actions, torso, core, remat=config.remat)


def make_agent(spec: base.EnvSpec, config: ml_collections.ConfigDict) -> agent_lib.Agent:
  """The actor-critic agent: V-trace loss, categorical policy."""
  network = make_network(spec, config)
  loss = loss_lib.make_vtrace_loss(
      network,
      discount=config.discount,
      baseline_cost=config.baseline_cost,
      entropy_cost=config.entropy_cost,
      lambda_=config.lambda_,
      clip_rho_threshold=config.clip_rho_threshold,
      clip_c_threshold=config.clip_c_threshold,
      clip_pg_rho_threshold=config.clip_pg_rho_threshold)

  def step(params, key, timestep, state):
    output, state = network.step(params, timestep.observation, timestep.first, state)
    action = jax.random.categorical(key, output.logits)
    return action, loss_lib.ActorExtras(logits=output.logits), state

  return agent_lib.Agent(
      init=network.init, initial_state=network.initial_state, step=step, loss=loss)
