"""Supervised tasks (data sources that are pure functions of a key) by name, for configs.

Each algorithmic task is registered twice: ``'<task>'`` draws lengths from a fixed range
(stateless), ``'<task>_curriculum'`` draws them under the SAM paper's exponential
curriculum (``envs.curriculum``). They are separate names rather than a ``curriculum``
flag because their arguments differ (``min_length``/``max_length`` against
``initial_level``, ``max_level``, ``threshold``, ...), so each name's unknown-argument
error lists exactly what that source takes.

The one-shot classification tasks (``envs.one_shot``) have no curriculum:
``'one_shot_digits'`` runs on scikit-learn's digits, a stand-in that ships with that
package, and ``'one_shot_omniglot'`` reads Omniglot from the ``path`` it is given (it is
never downloaded).
"""

import types as pytypes
from typing import Any, Callable

from core import config as config_lib
from core import model as model_lib
from envs import associative_recall
from envs import copy_task
from envs import curriculum
from envs import mazes
from envs import one_shot
from envs import pool
from envs import priority_sort

_CONSTRUCTORS: 'pytypes.MappingProxyType[str, Callable[..., model_lib.DataSource]]' = (
    pytypes.MappingProxyType({
        'copy': copy_task.make,
        'copy_curriculum': curriculum.make_copy,
        'associative_recall': associative_recall.make,
        'associative_recall_curriculum': curriculum.make_associative_recall,
        'priority_sort': priority_sort.make,
        'priority_sort_curriculum': curriculum.make_priority_sort,
        'one_shot_digits': one_shot.make_digits,
        'one_shot_omniglot': one_shot.make_omniglot,
        'mazes': mazes.make,
        'pool': pool.make,
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
