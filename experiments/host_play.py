"""Playing full episodes of host environments with a trained agent."""

from typing import NamedTuple

import jax
import numpy as np

from agents import registry as agent_registry
from envs import host_registry
from experiments import agents


class Evaluation(NamedTuple):
  episode_returns: np.ndarray  # [num_episodes]
  frames: list                 # observations of the first episode (if recorded)


def probe_env(config):
  """The spec of the host environment ``config.env`` names, and its frames per agent step
  (from a throwaway one-environment instance)."""
  env = host_registry.make_host(config.env.name, num_envs=1, **config.env.kwargs.to_dict())
  try:
    return env.spec, getattr(env, 'frames_per_step', 1)
  finally:
    env.close()


def evaluation_agent(config, spec, make_agent=None):
  """The agent that plays evaluation episodes: ``make_agent`` if given, else the
  registered family's agent with its evaluation settings (``AgentFamily.for_evaluation``,
  e.g. greedy acting for the Q-learners)."""
  if make_agent is not None:
    return make_agent(spec, config.agent)
  family = agent_registry.get(config.agent.name)
  return agents.make_agent(spec, family.for_evaluation(config.agent))


def greedy_evaluation_agent(config, spec, make_agent=None):
  """The agent that plays the greedy evaluation (its policy's mode, e.g. the actor-critic's
  argmax action) where that differs from ``evaluation_agent``'s; None where it does not
  (the Q-learners already evaluate greedily) or ``make_agent`` is the caller's own."""
  if make_agent is not None:
    return None
  family = agent_registry.get(config.agent.name)
  if family.for_greedy_evaluation is None:
    return None
  return agents.make_agent(spec, family.for_greedy_evaluation(config.agent))


def play_host(agent, params, config, *, num_episodes: int, seed: int,
              record: bool = False, max_steps: int = 1_000_000) -> Evaluation:
  """Plays ``num_episodes`` full games in parallel host environments, one game each."""
  env = host_registry.make_host(config.env.name, num_envs=num_episodes,
                                **config.env.kwargs.to_dict())
  policy_step = jax.jit(agent.step)
  returns = np.full((num_episodes,), np.nan)
  frames = []
  try:
    step = env.reset(seed)
    key, state_key = jax.random.split(jax.random.PRNGKey(seed))
    timestep, state = step.timestep, agent.initial_state(params, state_key, num_episodes)
    for _ in range(max_steps):
      if record and np.isnan(returns[0]):
        frames.append(np.asarray(timestep.observation[0]))
      key, step_key = jax.random.split(key)
      out = policy_step(params, step_key, timestep, state)
      state = out.state
      step = env.step(np.asarray(out.action))
      timestep = step.timestep
      ended = np.isnan(returns) & ~np.isnan(step.episode_return)
      returns[ended] = step.episode_return[ended]
      if not np.isnan(returns).any():
        break
  finally:
    env.close()
  return Evaluation(returns, frames)
