"""Supervised model families by name: ``name -> (make_model, validate)``.

The wiring layer names them so that ``memory/`` and ``planning/`` never import each other.
"""

from typing import Callable, NamedTuple

from core import config as config_lib
from core import model as model_lib
from memory import cores
from memory import sequence_model


class ModelFamily(NamedTuple):
  make_model: Callable   # (example batch, model config) -> core.model.Model
  validate: Callable     # (whole config, path of the model block) -> None; raises ConfigError


def _make_sequence_model(example_batch, config) -> model_lib.Model:
  core = cores.make_core(config.core, controller_size=config.lstm_size,
                         **config.memory.to_dict())
  return sequence_model.make_model(core, example_batch.targets.shape[-1])


def _validate_sequence_model(config, prefix: str) -> None:
  config_lib.one_of(config, f'{prefix}.core', cores.NAMES)
  config_lib.positive_int(config, f'{prefix}.lstm_size')
  for field in ('num_rows', 'word_size', 'num_reads', 'k'):
    config_lib.positive_int(config, f'{prefix}.memory.{field}')
  config_lib.one_of(config, f'{prefix}.memory.index', cores.INDEXES)
  memory = config_lib.get_field(config, f'{prefix}.memory')
  config_lib.require(config, f'{prefix}.memory.k', lambda k: k <= memory.num_rows,
                     f'at most memory.num_rows ({memory.num_rows})')


_FAMILIES = {
    'sequence': ModelFamily(_make_sequence_model, _validate_sequence_model),
}


def names() -> list[str]:
  return sorted(_FAMILIES)


def get(name: str) -> ModelFamily:
  if name not in _FAMILIES:
    raise ValueError(f'unknown model {name!r}; expected one of: {", ".join(names())}')
  return _FAMILIES[name]
