"""Supervised model families by name: ``name -> (make_model, validate)``.

The wiring layer names them so that ``memory/`` and ``planning/`` never import each other.
"""

from typing import Callable, NamedTuple

from core import config as config_lib
from core import model as model_lib
from experiments import agents
from memory import cores
from memory import sequence_model
from planning import conv_baselines
from planning import predictron


def _same_data(data, model_config):
  del model_config
  return data


class ModelFamily(NamedTuple):
  make_model: Callable   # (example batch, model config) -> core.model.Model
  validate: Callable     # (whole config, path of the model block) -> None; raises ConfigError
  # (data source, model config) -> the data source the model trains on (e.g. with
  # unlabelled batches for the predictron's consistency updates).
  prepare_data: Callable = _same_data


def _make_sequence_model(example_batch, config) -> model_lib.Model:
  core = cores.make_core(config.core, controller_size=config.lstm_size,
                         **config.memory.to_dict())
  return sequence_model.make_model(core, example_batch.targets.shape[-1], config.output,
                                   skip_chunk=config.get('skip_chunk') or None)


def _validate_sequence_model(config, prefix: str) -> None:
  config_lib.one_of(config, f'{prefix}.core', cores.NAMES)
  config_lib.positive_int(config, f'{prefix}.lstm_size')
  config_lib.one_of(config, f'{prefix}.output', sequence_model.OUTPUTS)
  if 'skip_chunk' in config_lib.get_field(config, prefix):   # older configs lack it
    config_lib.non_negative_int(config, f'{prefix}.skip_chunk')
  agents.validate_memory(config, f'{prefix}.memory')


def _labelled(example_batch):
  return getattr(example_batch, 'labelled', example_batch)


_PREDICTRON_NET_FIELDS = ('depth', 'shared_core', 'learn_reward_discount', 'learn_lambda')


def _make_predictron(example_batch, config) -> model_lib.Model:
  return predictron.make_model(
      outputs=_labelled(example_batch).targets.shape[-1],
      usage_weighting=config.usage_weighting, consistency_updates=config.consistency_updates,
      **{k: config[k] for k in _PREDICTRON_NET_FIELDS})


def predictron_net(outputs: int, config) -> predictron.PredictronNet:
  """The network of a ``predictron`` model block (``config.model``)."""
  return predictron.make_net(outputs=outputs, **{k: config[k] for k in _PREDICTRON_NET_FIELDS})


def _validate_predictron(config, prefix: str) -> None:
  config_lib.positive_int(config, f'{prefix}.depth')
  config_lib.non_negative_int(config, f'{prefix}.consistency_updates')
  for flag in ('shared_core', 'learn_reward_discount', 'learn_lambda', 'usage_weighting'):
    config_lib.require(config, f'{prefix}.{flag}', lambda x: isinstance(x, bool), 'a boolean')


def _predictron_data(data, config):
  if config.consistency_updates:
    return model_lib.with_unlabelled(data, config.consistency_updates)
  return data


def _make_conv_baseline(example_batch, config) -> model_lib.Model:
  return conv_baselines.make_model(outputs=example_batch.targets.shape[-1],
                                   depth=config.depth, recurrent=config.recurrent,
                                   skip=config.skip)


def _validate_conv_baseline(config, prefix: str) -> None:
  config_lib.positive_int(config, f'{prefix}.depth')
  for flag in ('recurrent', 'skip'):
    config_lib.require(config, f'{prefix}.{flag}', lambda x: isinstance(x, bool), 'a boolean')


_FAMILIES = {
    'sequence': ModelFamily(_make_sequence_model, _validate_sequence_model),
    'predictron': ModelFamily(_make_predictron, _validate_predictron, _predictron_data),
    'conv_baseline': ModelFamily(_make_conv_baseline, _validate_conv_baseline),
}


def names() -> list[str]:
  return sorted(_FAMILIES)


def get(name: str) -> ModelFamily:
  if name not in _FAMILIES:
    raise ValueError(f'unknown model {name!r}; expected one of: {", ".join(names())}')
  return _FAMILIES[name]
