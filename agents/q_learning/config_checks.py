"""Validation of the Q-learning agent's config block."""

import math

from agents import networks
from agents.q_learning import loss as loss_lib
from core import config as config_lib


def _is_probability(x) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0


def validate(config, prefix: str = 'agent') -> None:
  """Raises ``ConfigError`` naming the first bad field of ``config[prefix]``."""
  c = config_lib
  c.one_of(config, f'{prefix}.algorithm', loss_lib.ALGORITHMS)
  c.one_of(config, f'{prefix}.torso', ('mlp', 'shallow', 'deep'))
  c.require(config, f'{prefix}.hidden_sizes',
            lambda x: len(x) > 0 and all(isinstance(h, int) and h > 0 for h in x),
            'a non-empty sequence of positive integers')
  c.one_of(config, f'{prefix}.activation', networks.ACTIVATIONS)
  c.one_of(config, f'{prefix}.conv_implementation', ('auto', 'standard', 'matmul'))
  c.in_range(config, f'{prefix}.discount', 0.0, 1.0)
  c.non_negative_number(config, f'{prefix}.reward_clip')
  c.positive_int(config, f'{prefix}.target_update_period')
  c.non_negative_int(config, f'{prefix}.epsilon_anneal_steps')
  c.require(config, f'{prefix}.epsilon_finals',
            lambda x: len(x) > 0 and all(_is_probability(e) for e in x),
            'a non-empty sequence of numbers in [0, 1]')
  finals = config_lib.get_field(config, f'{prefix}.epsilon_finals')
  c.require(config, f'{prefix}.epsilon_probs',
            lambda x: (len(x) == len(finals) and all(_is_probability(p) for p in x)
                       and math.isclose(sum(x), 1.0, abs_tol=1e-6)),
            f'{len(finals)} probabilities (one per epsilon_finals entry) summing to 1')
