"""Supervised tasks (data sources that are pure functions of a key) by name, for configs."""

import types as pytypes
from typing import Any, Callable

from core import config as config_lib
from core import model as model_lib
from envs import copy_task

_CONSTRUCTORS: 'pytypes.MappingProxyType[str, Callable[..., model_lib.DataSource]]' = (
    pytypes.MappingProxyType({
        'copy': copy_task.make,
    }))


def names() -> list[str]:
  """The registered task names, sorted."""
  return sorted(_CONSTRUCTORS)


def make(name: str, **kwargs: Any) -> model_lib.DataSource:
  """Builds the data source registered as ``name``.

  Raises:
    ValueError: for an unknown name, an argument the task does not take, or a value it
      rejects; the message names the task and the argument.
  """
  if name not in _CONSTRUCTORS:
    raise ValueError(f'unknown task {name!r}; expected one of: {", ".join(names())}')
  return config_lib.construct(f'task {name!r}', _CONSTRUCTORS[name], kwargs)
