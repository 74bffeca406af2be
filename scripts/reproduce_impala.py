r"""Reproduces IMPALA's shallow-net Atari learning at this machine's scale.

Trains the agent (configs/impala_atari.py, the paper's settings unless --variants) on each
game for a fixed frame budget, evaluates the final policy over --eval_games full games,
commits the run's raw metrics to results/impala/runs/<run>/ (metrics.jsonl.gz, run.json,
learning-curve PNGs) and regenerates results/impala/README.md and summary.json from all
committed runs (experiments/impala_results.py). Each game's run lives in its own workdir and
resumes if the command is run again.

  python scripts/reproduce_impala.py                          # Pong and Breakout, 10M frames
  python scripts/reproduce_impala.py --games=pong --frames=10000000
  python scripts/reproduce_impala.py --games=pong --variants=replay,adam,low_entropy,constant_lr
  python scripts/reproduce_impala.py --games=pong,breakout --skip_existing   # stored: skipped
  python scripts/reproduce_impala.py --regenerate_only        # the table from committed data
"""

from experiments import launch  # pylint: disable=g-bad-import-order

if __name__ == '__main__':
  launch.preload_tcmalloc()  # before JAX starts; see experiments/launch.py

import functools  # pylint: disable=g-import-not-at-top,wrong-import-position
import pathlib
import sys

from absl import app
from absl import flags

from configs import impala_atari
from experiments import evaluation
from experiments import experiment
from experiments import impala_results
from experiments import interrupts
from experiments import sweep

_GAMES = flags.DEFINE_list('games', ['pong', 'breakout'], 'ale-py games to train on.')
_FRAMES = flags.DEFINE_integer('frames', 10_000_000, 'Atari frames per game.')
_RUNS = flags.DEFINE_string('runs', 'runs/reproduce_impala', 'Parent of the per-game workdirs.')
_OUT = flags.DEFINE_string('out', 'results/impala', 'Where the runs, table and plots go.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of every run.')
_VARIANTS = flags.DEFINE_string('variants', '', 'Extra configs/impala_atari.py variants, '
                                'comma-separated (e.g. small_batch).')
_EVAL_GAMES = flags.DEFINE_integer('eval_games', 30, 'Full games the final policy plays after '
                                   'training (as scripts/evaluate.py); 0: no evaluation.')
_EVAL_SEED = flags.DEFINE_integer('eval_seed', 12345, 'Seed of the evaluation environments.')
_SKIP_EXISTING = flags.DEFINE_bool('skip_existing', False, 'Skip runs already stored under '
                                   '<out>/runs/ (e.g. committed by an earlier session whose '
                                   'workdirs are gone).')
_REGENERATE_ONLY = flags.DEFINE_bool('regenerate_only', False, 'Train nothing: rebuild the '
                                     'README table and summary.json from committed runs.')


def _final_eval(workdir):
  """The final policy's score over --eval_games full games, or None."""
  if not _EVAL_GAMES.value:
    return None
  result = evaluation.evaluate(workdir, num_episodes=_EVAL_GAMES.value,
                               seed=_EVAL_SEED.value)
  return impala_results.final_eval_from_returns(result.episode_returns)


def _train(game: str, out: pathlib.Path) -> None:
  config = impala_atari.get_config(','.join(filter(None, [f'game={game}', _VARIANTS.value])))
  config.total_frames = _FRAMES.value
  config.seed = _SEED.value
  experiment.validate(config)
  name = impala_results.run_name(game, _VARIANTS.value, _SEED.value)
  workdir = pathlib.Path(_RUNS.value) / name
  with interrupts.stop_on_signals() as stop:
    result = experiment.train(config, workdir, stop=stop)
  if result.interrupted:
    sys.exit(f'stopped by {result.interrupted} at update {result.updates:,}; checkpoint '
             f'saved in {workdir}/checkpoints; rerun the same command to resume')
  info = impala_results.RunInfo(
      game=game, variants=_VARIANTS.value or 'paper', seed=_SEED.value,
      frame_budget=_FRAMES.value, target=config.get('target_return'),
      final_eval=_final_eval(workdir))
  run_dir = impala_results.store_run(workdir / 'metrics.jsonl', out, name, info)
  for path in impala_results.plot_run(run_dir):
    print(f'plot: {path}')


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  if not _REGENERATE_ONLY.value:
    sweep.run_plan(
        [(impala_results.run_name(game, _VARIANTS.value, _SEED.value),
          functools.partial(_train, game, out)) for game in _GAMES.value],
        out=out, runs=_RUNS.value, skip_existing=_SKIP_EXISTING.value,
        after_each=lambda: impala_results.regenerate(out))
  print(impala_results.regenerate(out))


if __name__ == '__main__':
  app.run(main)
