"""Host vector environments by name, so configs can name one as a string.

Names are ``'<prefix>/<rest>'``:

  atari/<game>   ``envs.atari.AtariVectorEnv`` on ale-py's game ``<game>``, e.g. 'atari/pong'
  gym/<id>       ``envs.gym_vector.GymVectorEnv`` on gymnasium's ``<id>``, e.g.
                 'gym/CartPole-v1' (the id may hold a namespace: 'gym/phys2d/CartPole-v1')
"""

import types as pytypes
from typing import Any, NamedTuple

from core import config as config_lib
from envs import atari
from envs import gym_vector
from core import host_env


class _Constructor(NamedTuple):
  cls: type
  name_argument: str  # the constructor argument that receives the part after the prefix


_CONSTRUCTORS: 'pytypes.MappingProxyType[str, _Constructor]' = pytypes.MappingProxyType({
    'atari': _Constructor(atari.AtariVectorEnv, 'game'),
    'gym': _Constructor(gym_vector.GymVectorEnv, 'env_id'),
})
_FORMS = "'atari/<game>' (e.g. 'atari/pong') or 'gym/<id>' (e.g. 'gym/CartPole-v1')"


def prefixes() -> list[str]:
  """The name prefixes ``make_host`` understands, sorted."""
  return sorted(_CONSTRUCTORS)


def make_host(name: str, *, num_envs: int, **kwargs: Any) -> host_env.HostVectorEnv:
  """Builds the host vector environment called ``name``.

  Args:
    name: ``'atari/<game>'`` or ``'gym/<id>'``.
    num_envs: number of environments.
    **kwargs: keyword arguments of ``AtariVectorEnv`` (e.g. ``sticky_actions``) or
      ``GymVectorEnv`` (e.g. ``env_kwargs``).

  Returns:
    The environment; call ``reset(seed)`` before stepping it.

  Raises:
    ValueError: for a malformed name, an unknown prefix, game or id, an argument the
      environment does not take, or a value it rejects. The message names the argument
      and lists what is accepted.
  """
  prefix, sep, rest = name.partition('/') if isinstance(name, str) else ('', '', '')
  if not sep or not rest or prefix not in _CONSTRUCTORS:
    raise ValueError(
        f'unknown host environment name {name!r} (argument name); expected {_FORMS}; '
        f'known prefixes: {", ".join(prefixes())}')
  constructor = _CONSTRUCTORS[prefix]
  return config_lib.construct(
      f'host environment {name!r}',
      lambda **kw: constructor.cls(**{constructor.name_argument: rest}, num_envs=num_envs,
                                   **kw),
      kwargs, signature_of=constructor.cls, fixed=(constructor.name_argument, 'num_envs'))
