"""Validation of the actor-critic agent's config block."""

from core import config as config_lib
from agents import networks


def validate(config, prefix: str = 'agent', memory_cores: tuple[str, ...] = ()) -> None:
  """Raises ``ConfigError`` naming the first bad field of ``config[prefix]``.

  ``memory_cores``: more names ``core`` may take, cores that the caller builds and checks
  (the memory models, wired in ``experiments/agents.py``).
  """
  c = config_lib
  c.require(config, f'{prefix}.hidden_sizes',
            lambda x: len(x) > 0 and all(isinstance(h, int) and h > 0 for h in x),
            'a non-empty sequence of positive integers')
  c.one_of(config, f'{prefix}.torso', ('mlp', 'shallow', 'deep'))
  c.one_of(config, f'{prefix}.conv_implementation', ('auto', 'standard', 'matmul'))
  c.one_of(config, f'{prefix}.activation', networks.ACTIVATIONS)
  c.one_of(config, f'{prefix}.core', ('none', 'lstm') + tuple(memory_cores))
  c.positive_int(config, f'{prefix}.lstm_size')
  c.one_of(config, f'{prefix}.loss', ('vtrace', 'nstep'))
  c.one_of(config, f'{prefix}.act', ('sample', 'mode'))
  c.in_range(config, f'{prefix}.discount', 0.0, 1.0)
  c.non_negative_number(config, f'{prefix}.baseline_cost')
  c.non_negative_number(config, f'{prefix}.entropy_cost')
  c.in_range(config, f'{prefix}.lambda_', 0.0, 1.0)
  c.require(config, f'{prefix}.lstm_prev_inputs', lambda x: isinstance(x, bool), 'a boolean')
  c.non_negative_number(config, f'{prefix}.reward_clip')
  c.positive_number(config, f'{prefix}.reward_scale')
  for clip in ('clip_rho_threshold', 'clip_c_threshold', 'clip_pg_rho_threshold'):
    c.positive_number(config, f'{prefix}.{clip}')
