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


def _expected_type(value) -> str:
  if isinstance(value, bool):
    return 'a boolean (true/false)'
  if isinstance(value, int):
    return 'an integer'
  if isinstance(value, float):
    return 'a number'
  if isinstance(value, str):
    return 'a string'
  if isinstance(value, (tuple, list)):
    return 'a sequence like (1, 2)'
  return type(value).__name__


def override_error(config: ml_collections.ConfigDict, argv: list[str],
                   error: Exception) -> ConfigError:
  """Explains why the ``--config.a.b=value`` overrides in ``argv`` could not apply.

  ``ml_collections.config_flags`` reports an unknown field as a bare ``AttributeError``
  and a bad value as a parse error; this finds the override at fault and names the field
  and what it expects.
  """
  for arg in argv:
    if not arg.startswith('--config.'):
      continue
    path, _, raw = arg[len('--config.'):].partition('=')
    node = config
    parts = path.split('.')
    for i, part in enumerate(parts):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        where = '.'.join(parts[:i]) or '(top level)'
        fields = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        return ConfigError(
            f'config.{path}: unknown field; {where} has the fields: {", ".join(fields)}')
      node = node[part]
    if path in str(error):
      return ConfigError(f'config.{path}: expected {_expected_type(node)}, got {raw!r}')
  return ConfigError(f'could not apply the --config overrides: {error}')


def construct(what: str, constructor: Callable[..., Any], kwargs: dict, *,
              signature_of: Callable[..., Any] | None = None,
              fixed: Iterable[str] = ()) -> Any:
  """``constructor(**kwargs)`` for a registry entry, with errors that name ``what``.

  An unknown keyword or a value the constructor rejects becomes a ``ValueError`` naming
  ``what`` (e.g. ``environment 'cartpole'``), the argument and what it takes, rather than
  Python's ``TypeError``, which names neither. ``fixed`` are arguments the registry
  supplies itself, left out of the list shown; ``signature_of`` is what the accepted
  arguments are read from when ``constructor`` is a wrapper.
  """
  import inspect  # pylint: disable=g-import-not-at-top
  accepted = sorted(set(inspect.signature(signature_of or constructor).parameters)
                    - set(fixed))
  unknown = sorted(set(kwargs) - set(accepted))
  if unknown:
    raise ValueError(f'{what} got unknown argument(s) {", ".join(unknown)}; it takes: '
                     f'{", ".join(accepted) or "no arguments"}')
  try:
    return constructor(**kwargs)
  except ValueError as error:
    raise ValueError(f'{what}: {error}') from error


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """Loads ``path[:arg]`` the way ``config_flags`` does: ``get_config(arg)`` of the file."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('_recurrax_config', path)
  if module_spec is None:
    raise ConfigError(f'--config: expected a Python config file, got {path!r}')
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except FileNotFoundError as e:
    raise ConfigError(f'--config: no config file at {path!r}') from e
  return module.get_config(*([arg] if arg else []))
