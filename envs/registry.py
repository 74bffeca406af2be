"""JAX-native environments by name, so configs can name an environment as a string."""

import inspect
import types as pytypes
from typing import Any, Callable

from envs import base
from envs import cartpole
from envs import cue_memory

# Read-only, so that importing code cannot register into (or break) the shared table.
_CONSTRUCTORS: 'pytypes.MappingProxyType[str, Callable[..., base.Environment]]' = (
    pytypes.MappingProxyType({
        'cartpole': cartpole.make,
        'cue_memory': cue_memory.make,
    }))


def names() -> list[str]:
  """The registered environment names, sorted."""
  return sorted(_CONSTRUCTORS)


def make(name: str, **kwargs: Any) -> base.Environment:
  """Builds the JAX-native environment registered as ``name``.

  Args:
    name: a registered name (see ``names()``).
    **kwargs: keyword arguments of that environment's ``make``.

  Returns:
    The environment.

  Raises:
    ValueError: if ``name`` is not registered, if a keyword is not one that
      environment takes, or if the environment rejects a value. The message names the
      environment and the argument.
  """
  if name not in _CONSTRUCTORS:
    raise ValueError(
        f'unknown environment {name!r}; expected one of: {", ".join(names())}')
  constructor = _CONSTRUCTORS[name]
  # Checked here rather than left to Python's TypeError, whose message would name
  # neither the environment nor the arguments it does take.
  accepted = sorted(inspect.signature(constructor).parameters)
  unknown = sorted(set(kwargs) - set(accepted))
  if unknown:
    raise ValueError(
        f'environment {name!r} got unknown argument(s) {", ".join(unknown)}; it takes: '
        f'{", ".join(accepted) or "no arguments"}')
  try:
    return constructor(**kwargs)
  except ValueError as error:
    raise ValueError(f'environment {name!r}: {error}') from error
