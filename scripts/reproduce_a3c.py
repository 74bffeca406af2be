r"""Reproduces the asynchronous methods' learning and their speed-up with more workers.

Trains each algorithm (configs/a3c.py) on one env for a fixed frame budget, for every
worker count and seed, commits each run's raw metrics to results/a3c/runs/<run>/
(metrics.jsonl.gz, run.json, learning-curve PNGs) and regenerates results/a3c/README.md and
summary.json from all committed runs (experiments/a3c_results.py). Runs go seed by seed,
then algorithm, then workers, so a sweep cut short still holds complete 1-worker/2-worker
pairs. Each run lives in its own workdir under --runs and resumes if the command is run
again (a resumed run is marked and left out of the timing); a finished one is not retrained.

  python scripts/reproduce_a3c.py                          # CartPole: 4 methods x 1,2 x 3 seeds
  python scripts/reproduce_a3c.py --algorithms=a3c --workers=1,2,4 --seeds=0
  python scripts/reproduce_a3c.py --env=game=pong --algorithms=a3c --workers=2 --seeds=0
  python scripts/reproduce_a3c.py --regenerate_only        # the tables from committed data
"""

from experiments import launch  # pylint: disable=g-bad-import-order

if __name__ == '__main__':
  launch.preload_tcmalloc()  # before JAX starts; see experiments/launch.py

import functools  # pylint: disable=g-import-not-at-top,wrong-import-position
import json
import os
import pathlib
import sys
import time

from absl import app
from absl import flags

from configs import a3c as a3c_configs
from core import metrics as metrics_lib
from experiments import a3c_results
from experiments import experiment
from experiments import interrupts
from experiments import sweep

# The frame budget per env where --frames is not given (else the config's).
DEFAULT_FRAMES = {'cartpole': 500_000}
START_FILENAME = 'reproduce_a3c.json'  # in the workdir: the first launch's start time

_ALGORITHMS = flags.DEFINE_list('algorithms', ['a3c', 'q1', 'sarsa1', 'qn'],
                                f'Algorithms: any of {", ".join(a3c_results.ALGORITHMS)}.')
_ENV = flags.DEFINE_string('env', 'cartpole', 'The configs/a3c.py env variant: cartpole or '
                           'game=<atari game>.')
_WORKERS = flags.DEFINE_list('workers', ['1', '2'], 'Worker counts.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds.')
_FRAMES = flags.DEFINE_integer('frames', None, 'Frames per run (default: CartPole 500,000; '
                               "other envs the config's).")
_VARIANTS = flags.DEFINE_string('variants', '', 'Extra configs/a3c.py variants, '
                                'comma-separated (e.g. threads; smoke for tests).')
_RUNS = flags.DEFINE_string('runs', 'runs/reproduce_a3c', 'Parent of the per-run workdirs.')
_OUT = flags.DEFINE_string('out', 'results/a3c', 'Where the runs, tables and plots go.')
_REGENERATE_ONLY = flags.DEFINE_bool('regenerate_only', False, 'Train nothing: rebuild the '
                                     'README tables and summary.json from committed runs.')
_SKIP_EXISTING = flags.DEFINE_bool('skip_existing', False, 'Skip runs already stored under '
                                   '<out>/runs/.')


def make_config(algorithm: str, env: str, workers: int, seed: int, frames: int | None,
                variants: str = ''):
  """The run's config: ``algorithm,env[,variants]`` with these workers, seed and budget."""
  config = a3c_configs.get_config(','.join(filter(None, [algorithm, env, variants])))
  config.seed = seed
  config.runtime.num_workers = workers
  if frames is None:
    frames = DEFAULT_FRAMES.get(a3c_results.env_name(env), config.total_frames)
  config.total_frames = frames
  experiment.validate(config)
  return config


def first_start(workdir: pathlib.Path) -> tuple[float, float | None]:
  """The unix time the run's first launch started training and the machine's 1-minute
  load average then; taken now on a first launch.

  A resumed run keeps its first start, so its wall time shows the pause (and it is marked
  resumed) rather than looking like a fast fresh run.
  """
  path = workdir / START_FILENAME
  if path.exists():
    data = json.loads(path.read_text())
    return float(data['train_start_unix']), data.get('load_before')
  workdir.mkdir(parents=True, exist_ok=True)
  start, load = time.time(), os.getloadavg()[0]
  path.write_text(json.dumps({'train_start_unix': start, 'load_before': load}) + '\n')
  return start, load


def finished(workdir: pathlib.Path, frames: int) -> bool:
  """Whether the workdir holds a run that spent ``frames`` and ran its final evaluation
  (training it again would only add a resume)."""
  path = workdir / metrics_lib.METRICS_FILENAME
  if not path.exists():
    return False
  records = metrics_lib.read_metrics(path)
  return bool(records) and records[-1].get('frames', 0) >= frames and (
      'eval_return' in records[-1])


def reproduce_one(algorithm: str, env: str, workers: int, seed: int, *, frames: int | None,
                  variants: str, runs: pathlib.Path, out: pathlib.Path,
                  print_fn=print) -> pathlib.Path:
  """Trains (or resumes) one run, stores it under ``out`` with its plots; returns its folder.

  Exits the process if the run was stopped by a signal (its checkpoint is kept).
  """
  config = make_config(algorithm, env, workers, seed, frames, variants)
  name = a3c_results.run_name(a3c_results.env_name(env), algorithm, workers, seed, variants)
  workdir = runs / name
  start, load_before = first_start(workdir)
  if finished(workdir, config.total_frames):
    print_fn(f'{name}: already trained in {workdir}')
  else:
    print_fn(f'{name}: training in {workdir}')
    with interrupts.stop_on_signals() as stop:
      result = experiment.train(config, workdir, stop=stop, print_fn=print_fn)
    if result.interrupted:
      sys.exit(f'stopped by {result.interrupted} at update {result.updates:,}; checkpoint '
               f'saved in {workdir}/checkpoints; rerun the same command to resume')
  metrics_path = workdir / metrics_lib.METRICS_FILENAME
  last = metrics_lib.read_metrics(metrics_path)[-1]
  env_label = a3c_results.env_name(env)
  info = a3c_results.RunInfo(
      env=env_label, algorithm=algorithm, workers=workers, seed=seed,
      frame_budget=config.total_frames, target=config.get('target_return'),
      reference=a3c_results.REFERENCES.get(env_label), train_start_unix=start,
      final_eval=a3c_results.final_eval_from_record(last, config.num_eval_episodes),
      variants=variants, resumed=any(workdir.glob('provenance.resume-*.json')),
      cpus=os.cpu_count(), load_before=load_before,
      greedy_eval=a3c_results.final_eval_from_record(last, config.num_eval_episodes,
                                                     prefix='eval_greedy'))
  run_dir = a3c_results.store_run(metrics_path, out, name, info)
  for path in a3c_results.plot_run(run_dir):
    print_fn(f'plot: {path}')
  return run_dir


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  if not _REGENERATE_ONLY.value:
    unknown = sorted(set(_ALGORITHMS.value) - set(a3c_results.ALGORITHMS))
    if unknown:
      sys.exit(f'unknown --algorithms {", ".join(unknown)}; '
               f'known: {", ".join(a3c_results.ALGORITHMS)}')
    env_label = a3c_results.env_name(_ENV.value)
    plan = [(a3c_results.run_name(env_label, algorithm, workers, seed, _VARIANTS.value),
             functools.partial(reproduce_one, algorithm, _ENV.value, workers, seed,
                               frames=_FRAMES.value, variants=_VARIANTS.value,
                               runs=pathlib.Path(_RUNS.value), out=out))
            for seed in map(int, _SEEDS.value) for algorithm in _ALGORITHMS.value
            for workers in map(int, _WORKERS.value)]
    sweep.run_plan(plan, out=out, runs=_RUNS.value, skip_existing=_SKIP_EXISTING.value,
                   after_each=lambda: a3c_results.regenerate(out))
  print(a3c_results.regenerate(out))


if __name__ == '__main__':
  app.run(main)
