"""Agent families by name: ``name -> (make_agent, validate)``."""

from typing import Callable, NamedTuple

from agents.actor_critic import agent as actor_critic
from agents.actor_critic import config_checks as actor_critic_checks
from agents.q_learning import agent as q_agent
from agents.q_learning import config_checks as q_checks


def _unchanged(agent_config):
  return agent_config


def _greedy_q_learner(agent_config):
  """The Q-learner's agent block for evaluation: ε = 0 from the first step (its training
  schedule would start a fresh policy at ε = 1)."""
  agent_config = agent_config.copy_and_resolve_references()
  agent_config.epsilon_anneal_steps = 0
  agent_config.epsilon_finals, agent_config.epsilon_probs = (0.0,), (1.0,)
  return agent_config


def _mode_actor_critic(agent_config):
  """The actor-critic's agent block acting by its policy's mode (argmax or Gaussian mean)
  instead of sampling: its greedy score, reported beside the sampled one."""
  agent_config = agent_config.copy_and_resolve_references()
  agent_config.act = 'mode'
  return agent_config


class AgentFamily(NamedTuple):
  make_agent: Callable   # (EnvSpec, agent config) -> core.agent.Agent
  validate: Callable     # (whole config, path of the agent block) -> None; raises ConfigError
  # agent config -> the agent config that evaluates a trained policy (how it acts when
  # its score is measured: e.g. greedily for Q-learners).
  for_evaluation: Callable = _unchanged
  # agent config -> the agent config that acts greedily (by its policy's mode), for
  # families whose ``for_evaluation`` does not already; None where it does.
  for_greedy_evaluation: Callable | None = None
  # Whether make_agent takes any recurrent core (``core=``, e.g. a memory model) and
  # validate takes the names of those cores (``memory_cores=``).
  takes_core: bool = False


_FAMILIES = {
    'actor_critic': AgentFamily(actor_critic.make_agent, actor_critic_checks.validate,
                                for_greedy_evaluation=_mode_actor_critic, takes_core=True),
    'q_learning': AgentFamily(q_agent.make_agent, q_checks.validate, _greedy_q_learner),
}


def names() -> list[str]:
  return sorted(_FAMILIES)


def get(name: str) -> AgentFamily:
  if name not in _FAMILIES:
    raise ValueError(f'unknown agent {name!r}; expected one of: {", ".join(names())}')
  return _FAMILIES[name]
