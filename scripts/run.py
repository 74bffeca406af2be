r"""Trains an agent from a config file; rerunning the same command resumes it.

  python scripts/run.py                                   # the default: CartPole
  python scripts/run.py --config=configs/actor_critic.py:memory --workdir=runs/memory
  python scripts/run.py --config.optimizer.learning_rate=3e-4 --config.seed=1
"""

import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from agents import registry as agent_registry
from core import config as config_lib
from core import experiment

_CONFIG = config_flags.DEFINE_config_file(
    'config', 'configs/actor_critic.py', 'Experiment config file (path[:variants]).',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', 'runs/default',
                               'Where metrics, checkpoints and plots go.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  try:
    experiment.validate(config, agent_registry.names(),
                        lambda c, p: agent_registry.get(c.agent.name).validate(c, p))
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  result = experiment.train(config, _WORKDIR.value,
                            agent_registry.get(config.agent.name).make_agent)
  reached = ''
  if result.target_return is not None:
    reached = (' (target %.2f %s)' % (result.target_return, 'reached'
               if result.eval_return >= result.target_return else 'NOT reached'))
  print(f'final: eval return {result.eval_return:.2f} over {config.num_eval_episodes} '
        f'episodes{reached}; last training return {result.train_return:.2f}; '
        f'{result.frames:,} frames in {result.wall_time_s:.0f} s')
  print(f'metrics: {result.metrics_path}')
  print(f'plots: {", ".join(result.plot_paths)}')


if __name__ == '__main__':
  app.run(main)
