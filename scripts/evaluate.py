r"""Plays full episodes with a run's latest checkpoint; optionally records one.

  python scripts/evaluate.py --workdir=runs/pong --episodes=10 --video=runs/pong/pong.gif
"""

from experiments import launch  # pylint: disable=g-bad-import-order

if __name__ == '__main__':
  launch.preload_tcmalloc()  # before JAX starts; see experiments/launch.py

import sys

import numpy as np
from absl import app
from absl import flags

from core import checkpoint
from experiments import evaluation

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run to evaluate.', required=True)
_EPISODES = flags.DEFINE_integer('episodes', 10, 'Full episodes to play.')
_SEED = flags.DEFINE_integer('seed', 12345, 'Seed of the evaluation environments.')
_VIDEO = flags.DEFINE_string('video', None, 'Write the first episode here (.gif or .mp4).')


def main(argv):
  del argv
  try:
    result = evaluation.evaluate(_WORKDIR.value, num_episodes=_EPISODES.value,
                                 seed=_SEED.value, record=bool(_VIDEO.value))
  except (checkpoint.CheckpointError, ValueError, FileNotFoundError) as e:
    sys.exit(f'error: {e}')
  returns = result.episode_returns
  done = returns[~np.isnan(returns)]
  print(f'{len(done)} episodes: mean return {np.mean(done):.2f}, median {np.median(done):.2f}, '
        f'min {np.min(done):.2f}, max {np.max(done):.2f}')
  if _VIDEO.value:
    print(f'video: {evaluation.write_animation(result.frames, _VIDEO.value)}')


if __name__ == '__main__':
  app.run(main)
