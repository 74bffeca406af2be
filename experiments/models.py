"""Supervised model families by name: ``name -> (make_model, validate)``.

The wiring layer names them so that ``memory/`` and ``planning/`` never import each other.
"""

from typing import Callable, NamedTuple

from core import config as config_lib
from core import model as model_lib
from experiments import agents
from memory import cores
from memory import sequence_model


class ModelFamily(NamedTuple):
  make_model: Callable   # (example batch, model config) -> core.model.Model
  validate: Callable     # (whole config, path of the model block) -> None; raises ConfigError


def _make_sequence_model(example_batch, config) -> model_lib.Model:
  core = cores.make_core(config.core, controller_size=config.lstm_size,
                         **config.memory.to_dict())
  return sequence_model.make_model(core, example_batch.targets.shape[-1], config.output)


def _validate_sequence_model(config, prefix: str) -> None:
  config_lib.one_of(config, f'{prefix}.core', cores.NAMES)
  config_lib.positive_int(config, f'{prefix}.lstm_size')
  config_lib.one_of(config, f'{prefix}.output', sequence_model.OUTPUTS)
  agents.validate_memory(config, f'{prefix}.memory')


_FAMILIES = {
    'sequence': ModelFamily(_make_sequence_model, _validate_sequence_model),
}


def names() -> list[str]:
  return sorted(_FAMILIES)


def get(name: str) -> ModelFamily:
  if name not in _FAMILIES:
    raise ValueError(f'unknown model {name!r}; expected one of: {", ".join(names())}')
  return _FAMILIES[name]
