"""Agent families by name: ``name -> (make_agent, validate)``."""

from typing import Callable, NamedTuple

from agents.actor_critic import agent as actor_critic
from agents.actor_critic import config_checks as actor_critic_checks


class AgentFamily(NamedTuple):
  make_agent: Callable   # (EnvSpec, agent config) -> core.agent.Agent
  validate: Callable     # (whole config, path of the agent block) -> None; raises ConfigError


_FAMILIES = {
    'actor_critic': AgentFamily(actor_critic.make_agent, actor_critic_checks.validate),
}


def names() -> list[str]:
  return sorted(_FAMILIES)


def get(name: str) -> AgentFamily:
  if name not in _FAMILIES:
    raise ValueError(f'unknown agent {name!r}; expected one of: {", ".join(names())}')
  return _FAMILIES[name]
