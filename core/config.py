"""Config validation: bad input stops a run before any work, naming the field at fault."""

from typing import Any, Callable, Iterable

import ml_collections


class ConfigError(ValueError):
  """A config field holds a value the experiment cannot use."""


def get_field(config: ml_collections.ConfigDict, path: str) -> Any:
  """The value at a dotted ``path`` (e.g. ``optimizer.learning_rate``)."""
  value = config
  for part in path.split('.'):
    if not isinstance(value, (ml_collections.ConfigDict, dict)) or part not in value:
      raise ConfigError(f'config.{path}: missing; the config has no field {part!r} here')
    value = value[part]
  return value


def require(config: ml_collections.ConfigDict, path: str, ok: Callable[[Any], bool],
            expected: str) -> None:
  """Raises ``ConfigError`` unless ``ok(value)`` holds for the field at ``path``."""
  value = get_field(config, path)
  try:
    good = ok(value)
  except (TypeError, ValueError):
    good = False
  if not good:
    raise ConfigError(f'config.{path}: expected {expected}, got {value!r}')


def _is_int(x):
  return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x):
  return isinstance(x, (int, float)) and not isinstance(x, bool)


def positive_int(config, path):
  require(config, path, lambda x: _is_int(x) and x > 0, 'a positive integer')


def non_negative_int(config, path):
  require(config, path, lambda x: _is_int(x) and x >= 0, 'a non-negative integer')


def positive_number(config, path):
  require(config, path, lambda x: _is_number(x) and x > 0, 'a positive number')


def non_negative_number(config, path):
  require(config, path, lambda x: _is_number(x) and x >= 0, 'a non-negative number')


def in_range(config, path, low, high):
  require(config, path, lambda x: _is_number(x) and low <= x <= high,
          f'a number in [{low}, {high}]')


def one_of(config, path, choices: Iterable[str]):
  choices = sorted(choices)
  require(config, path, lambda x: x in choices, f'one of {choices}')
