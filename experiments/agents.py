"""Agents from their config block, with any memory model as their recurrent core.

The agent families (``agents/registry.py``) know the LSTM; the memory models live in
``memory/``, which agents must not import. Here, above both, an ``agent.core`` naming a
memory model (``memory/cores.py``) is built from ``agent.memory`` with an LSTM
controller of ``agent.lstm_size`` units and handed to the family's ``make_agent``.
"""

from agents import registry as agent_registry
from core import config as config_lib
from memory import cores


def uses_memory(agent_config) -> bool:
  return agent_config.get('core') in cores.MEMORY_NAMES


def make_agent(spec, agent_config):
  """``make_agent(env_spec, agent_config) -> Agent`` of the family ``agent_config.name``.

  Module-level (picklable), so that the asynchronous runtime's worker processes can
  build it too.
  """
  family = agent_registry.get(agent_config.name)
  if not uses_memory(agent_config):
    return family.make_agent(spec, agent_config)
  core = cores.make_core(agent_config.core, controller_size=agent_config.lstm_size,
                         **agent_config.memory.to_dict())
  return family.make_agent(spec, agent_config, core=core)


def validate_memory(config, prefix: str) -> None:
  """Raises ``ConfigError`` naming the first bad field of the memory block at
  ``prefix`` (``configs/common.memory_config``)."""
  c = config_lib
  for field in ('num_rows', 'word_size', 'num_reads', 'k', 'links_per_row'):
    c.positive_int(config, f'{prefix}.{field}')
  c.one_of(config, f'{prefix}.index', cores.INDEXES)
  memory = c.get_field(config, prefix)
  c.require(config, f'{prefix}.k', lambda k: k <= memory.num_rows,
            f'at most {prefix}.num_rows ({memory.num_rows})')


def validate(config, prefix: str = 'agent') -> None:
  """The family's checks of the agent block, and its memory block where ``core`` names
  a memory model."""
  family = agent_registry.get(config_lib.get_field(config, f'{prefix}.name'))
  agent_config = config_lib.get_field(config, prefix)
  if uses_memory(agent_config):
    if not family.takes_core:
      raise config_lib.ConfigError(
          f'{prefix}.core: the {agent_config.name} agent takes no memory core; expected '
          f'none or lstm, got {agent_config.core!r}')
    validate_memory(config, f'{prefix}.memory')
  family.validate(config, prefix, **({'memory_cores': cores.MEMORY_NAMES}
                                     if family.takes_core else {}))
