r"""Trains an experiment from a config file; rerunning the same command resumes it.

  python scripts/run.py                                   # the default: CartPole
  python scripts/run.py --config=configs/actor_critic.py:memory --workdir=runs/memory
  python scripts/run.py --config=configs/memory_tasks.py:lstm_copy --workdir=runs/copy
  python scripts/run.py --config.optimizer.learning_rate=3e-4 --config.seed=1

Ctrl-C or SIGTERM stops after the step in flight, saves a checkpoint of that state and
says how to resume.
"""

from experiments import launch  # pylint: disable=g-bad-import-order

if __name__ == '__main__':
  launch.preload_tcmalloc()  # before JAX starts; see experiments/launch.py

import os
import re
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from core import checkpoint
from core import config as config_lib
from experiments import experiment
from experiments import interrupts

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(_ROOT, 'configs', 'actor_critic.py')
# config_flags applies --config.x=y overrides to a default config while the flag is being
# defined, beyond the reach of error reporting; naming the file explicitly defers that
# to flag parsing, where parse_flags turns a bad override into a clear error.
if not any(re.match(r'^--?config(=|$)', arg) for arg in sys.argv[1:]):
  sys.argv.insert(1, f'--config={DEFAULT_CONFIG}')

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file: path[:variants], default '
    'configs/actor_critic.py (CartPole).', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', 'runs/default',
                               'Where metrics, checkpoints and plots go.')


def parse_flags(argv):
  """absl's flag parsing, with config override errors reported by field name."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # config_flags raises assorted types for a bad override.
    spec = next(a.split('=', 1)[1] for a in argv if re.match(r'^--?config=', a))
    try:
      config = config_lib.load_config_file(spec)
    except Exception as load_error:  # The file itself is at fault: say so.
      sys.exit(f'error: --config={spec}: {load_error}')
    sys.exit(f'error: {config_lib.override_error(config, argv, e)}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  try:
    config.keys()  # A config file that failed to load raises its error here.
  except IOError as e:
    sys.exit(f'error: --config: {e}')
  try:
    experiment.validate(config)
  except config_lib.ConfigError as e:
    sys.exit(f'error: {e}')
  try:
    with interrupts.stop_on_signals() as stop:
      result = experiment.train(config, _WORKDIR.value, stop=stop)
  except checkpoint.CheckpointError as e:
    sys.exit(f'error: {e}')
  print(summary_line(config, result))
  print(f'metrics: {result.metrics_path}')
  if result.plot_paths:
    print(f'plots: {", ".join(result.plot_paths)}')
  if result.interrupted:
    sys.exit(130 if result.interrupted == 'SIGINT' else 143)


def summary_line(config, result) -> str:
  """The closing line: where an interrupted run stopped, or what a finished one scored."""
  if result.interrupted:
    return (f'stopped by {result.interrupted} at update {result.updates:,} '
            f'({result.frames:,} {_unit(config)}); checkpoint saved in '
            f'{_WORKDIR.value}/checkpoints; rerun the same command to resume')
  if config.runtime.name == 'supervised':
    shown = ', '.join(f'{k} {v:.4g}' for k, v in result.eval_metrics.items())
    return (f'final: {shown}; {result.frames:,} examples in {result.wall_time_s:.0f} s')
  evaluated = result.eval_return == result.eval_return  # NaN: no final evaluation
  score = result.eval_return if evaluated else result.train_return
  where = (f'eval return {score:.2f} over {config.num_eval_episodes} episodes' if evaluated
           else f'mean return {score:.2f} over the last training episodes')
  reached = ''
  if result.target_return is not None:
    reached = ' (target %.2f %s)' % (
        result.target_return, 'reached' if score >= result.target_return else 'NOT reached')
  return (f'final: {where}{reached}; last training return {result.train_return:.2f}; '
          f'{result.frames:,} frames in {result.wall_time_s:.0f} s')


def _unit(config) -> str:
  return 'examples' if config.runtime.name == 'supervised' else 'frames'


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
