"""JAX-native environments by name, so configs can name an environment as a string."""

import types as pytypes
from typing import Any, Callable

from core import env as env_lib
from core import config as config_lib
from envs import cartpole
from envs import cue_memory

# Read-only, so that importing code cannot register into (or break) the shared table.
_CONSTRUCTORS: 'pytypes.MappingProxyType[str, Callable[..., env_lib.Environment]]' = (
    pytypes.MappingProxyType({
        'cartpole': cartpole.make,
        'cue_memory': cue_memory.make,
    }))


def names() -> list[str]:
  """The registered environment names, sorted."""
  return sorted(_CONSTRUCTORS)


def make(name: str, **kwargs: Any) -> env_lib.Environment:
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
  return config_lib.construct(f'environment {name!r}', _CONSTRUCTORS[name], kwargs)
