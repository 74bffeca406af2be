"""Supervised model families by name: ``name -> (make_model, validate)``.

The wiring layer names them so that ``memory/`` and ``planning/`` never import each other.
"""

from typing import Callable, NamedTuple

from core import config as config_lib
from core import model as model_lib
from core.nn import lstm
from memory import sequence_model


class ModelFamily(NamedTuple):
  make_model: Callable   # (example batch, model config) -> core.model.Model
  validate: Callable     # (whole config, path of the model block) -> None; raises ConfigError


def _make_sequence_model(example_batch, config) -> model_lib.Model:
  return sequence_model.make_model(lstm.lstm_core(config.lstm_size),
                                   example_batch.targets.shape[-1])


def _validate_sequence_model(config, prefix: str) -> None:
  config_lib.one_of(config, f'{prefix}.core', ('lstm',))
  config_lib.positive_int(config, f'{prefix}.lstm_size')


_FAMILIES = {
    'sequence': ModelFamily(_make_sequence_model, _validate_sequence_model),
}


def names() -> list[str]:
  return sorted(_FAMILIES)


def get(name: str) -> ModelFamily:
  if name not in _FAMILIES:
    raise ValueError(f'unknown model {name!r}; expected one of: {", ".join(names())}')
  return _FAMILIES[name]
