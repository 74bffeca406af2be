r"""Trains the memory models on the SAM paper's tasks and writes results/sam/.

Each (model, task, seed) trains ``configs/memory_tasks.py:<model>_<task>`` (the paper's
set-up: LSTM controller 100, words of 32, 4 heads, K = 4) for the same number of examples,
in its own workdir (rerunning the command resumes it); its raw metrics go to
results/sam/runs/<run>/ with run.json and learning-curve PNGs, and results/sam/README.md
and summary.json are regenerated from every committed run (experiments/sam_results.py).

  python scripts/reproduce_sam.py --models=sam,sdnc,ntm,dnc --tasks=copy --seeds=0,1,2
  python scripts/reproduce_sam.py --tasks=oneshot --examples=400000
  python scripts/reproduce_sam.py --models=sam --tasks=copy_curriculum  # then 10x longer
  python scripts/reproduce_sam.py --models=ntm --seeds=1,2 --skip_existing   # stored: skipped
  python scripts/reproduce_sam.py --regenerate_only      # the tables from committed data

A ``<task>_curriculum`` task (copy, recall) trains under the exponential curriculum with a
larger memory (--curriculum_rows, levels up to --curriculum_max_level) and then tests the
final checkpoint on episodes exactly as long as its final level h and --longer_factor × h
(experiments/sam_generalisation.py), stored beside the run as generalisation.json. The
memory must keep a word per step presenting the longest test (copy at the defaults: 1,280
of 2,048 rows; recall's items take 4 steps each: --curriculum_rows=8192).

Each run is claimed while it trains (experiments/sweep.py), so the same command can be
started once per core (e.g. under ``taskset -c <core>``, with --skip_existing so that a
rerun skips stored runs too): each process skips the runs another one holds.
"""

from experiments import launch  # pylint: disable=g-bad-import-order

if __name__ == '__main__':
  launch.preload_tcmalloc()  # before JAX starts; see experiments/launch.py

import functools  # pylint: disable=g-import-not-at-top,wrong-import-position
import pathlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import sys

from absl import app
from absl import flags

from configs import memory_tasks
from configs import variants
from experiments import experiment
from experiments import interrupts
from experiments import sam_generalisation
from experiments import sam_results
from experiments import sweep

_MODELS = flags.DEFINE_list('models', ['sam', 'sdnc', 'ntm', 'dnc'],
                            'memory/cores.py models to train.')
_TASKS = flags.DEFINE_list('tasks', ['copy', 'recall', 'sort'],
                           f'Tasks, of {sorted(sam_results.TASK_METRICS)}.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds of each model and task.')
_EXAMPLES = flags.DEFINE_integer('examples', 320_000, 'Training sequences per run.')
_CURRICULUM_ROWS = flags.DEFINE_integer('curriculum_rows', 2048, 'Memory rows of the '
                                       '*_curriculum runs: at least a word per step that '
                                       'presents the longer test (copy: its vectors).')
_CURRICULUM_MAX_LEVEL = flags.DEFINE_integer('curriculum_max_level', 128, "The curriculum's "
                                             'cap (it fixes the padded length of every batch).')
_LONGER_FACTOR = flags.DEFINE_integer('longer_factor', 10, 'A *_curriculum run is tested on '
                                      'episodes this many times its final level.')
_VARIANTS = flags.DEFINE_string('variants', '', 'More configs/memory_tasks.py variants '
                                'applied after <model>_<task> (e.g. smoke).')
_RUNS = flags.DEFINE_string('runs', 'runs/reproduce_sam', 'Parent of the workdirs.')
_OUT = flags.DEFINE_string('out', 'results/sam', 'Where the runs and tables go.')
_SKIP_EXISTING = flags.DEFINE_bool('skip_existing', False, 'Skip runs already stored under '
                                   '<out>/runs/ (e.g. committed by an earlier session whose '
                                   'workdirs are gone).')
_REGENERATE_ONLY = flags.DEFINE_bool('regenerate_only', False, 'Train nothing: rebuild the '
                                     'tables from the committed runs.')


def _config(model: str, task: str, seed: int):
  base, curriculum, _ = task.partition('_curriculum')
  config = memory_tasks.get_config(f'{model}_{base}' + (',curriculum' if curriculum else ''))
  if curriculum:
    config.model.memory.num_rows = _CURRICULUM_ROWS.value
    config.data.kwargs.max_level = _CURRICULUM_MAX_LEVEL.value
  # After the curriculum's sizes, so that e.g. --variants=smoke shrinks those too.
  config = variants.apply(config, _VARIANTS.value, memory_tasks.VARIANTS, default='',
                          source='--variants')
  if curriculum:
    longest = _LONGER_FACTOR.value * config.data.kwargs.max_level
    needed = sam_generalisation.rows_needed(config.data.name, config.data.kwargs, longest)
    if config.model.memory.num_rows < needed:
      raise ValueError(
          f'{task}: {config.model.memory.num_rows} memory rows (--curriculum_rows) are too '
          f'few for the longer test: --longer_factor x the cap = {longest} presents '
          f'{needed} words (experiments/sam_generalisation.rows_needed)')
  config.seed = seed
  config.total_examples = _EXAMPLES.value
  experiment.validate(config)
  return config


def _train(model: str, task: str, seed: int, out: pathlib.Path) -> None:
  config = _config(model, task, seed)
  metric, threshold = sam_results.TASK_METRICS[task]
  workdir = pathlib.Path(_RUNS.value) / sam_results.run_name(model, task, seed)
  with interrupts.stop_on_signals() as stop:
    result = experiment.train(config, workdir, stop=stop)
  if result.interrupted:
    sys.exit(f'stopped by {result.interrupted} at update {result.updates:,}; checkpoint '
             f'saved in {workdir}/checkpoints; rerun the same command to resume')
  generalisation = None
  if task.endswith('_curriculum'):
    generalisation = sam_generalisation.evaluate_longer(workdir, factor=_LONGER_FACTOR.value)
    print(f'{task}: level {generalisation["level"]}, tested at '
          f'{generalisation["longer"]["length"]}: {generalisation}', flush=True)
  info = sam_results.RunInfo(model=model, task=task, seed=seed, examples=_EXAMPLES.value,
                             metric=metric, threshold=threshold)
  run_dir = sam_results.store_run(workdir / 'metrics.jsonl', out, info, generalisation)
  for path in sam_results.plot_run(run_dir):
    print(f'plot: {path}')


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  unknown = sorted(set(_TASKS.value) - set(sam_results.TASK_METRICS))
  if unknown:
    sys.exit(f'--tasks: unknown {unknown}; expected some of {sorted(sam_results.TASK_METRICS)}')
  for task in _TASKS.value:   # bad sizes stop the sweep before any run trains
    for model in _MODELS.value:
      try:
        _config(model, task, 0)
      except ValueError as e:
        sys.exit(str(e))
  if not _REGENERATE_ONLY.value:
    sweep.run_plan(
        [(sam_results.run_name(model, task, seed), functools.partial(_train, model, task, seed,
                                                                     out))
         for task in _TASKS.value for model in _MODELS.value for seed in map(int, _SEEDS.value)],
        out=out, runs=_RUNS.value, skip_existing=_SKIP_EXISTING.value,
        after_each=lambda: sam_results.regenerate(out),
        print_fn=lambda line: print(line, flush=True))
  print(sam_results.regenerate(out))


if __name__ == '__main__':
  app.run(main)
