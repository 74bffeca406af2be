r"""Trains the predictron's comparison (Silver et al. 2017) and writes results/predictron/.

Each (domain, model, depth, consistency updates, seed) trains ``configs/predictron.py``
for the same number of labelled examples at the same scale, in its own workdir (rerunning
the command resumes it and skips finished runs' training). What runs is
``experiments.predictron_results.plan``: at the deepest depth every predictron ablation
((r, γ, λ), (r, γ), (λ), none; usage or uniform weighting), at every depth the
(r, γ, λ)-predictron (shared and unshared) and the four conv-net baselines, and the
(r, γ, λ)-predictron with each number of consistency updates; seed by seed. The raw
metrics go to results/predictron/runs/<run>/ with run.json, the adaptive-depth evaluation
of each shared (r, γ, λ)-predictron and learning-curve PNGs; README.md and summary.json
are regenerated from every committed run.

The defaults are a reduced scale that a 2-core CPU can run (8×8 mazes, batches of 32,
2,000 updates per run; pool renders of 14 pixels); the paper's is ``--size=20 --pool_size=28
--batch_size=100`` and far more updates.

  python scripts/reproduce_predictron.py                        # mazes, 3 seeds
  python scripts/reproduce_predictron.py --domains=pool          # 14-pixel renders
  python scripts/reproduce_predictron.py --seeds=1 --skip_existing   # leave stored runs be
  python scripts/reproduce_predictron.py --regenerate_only      # the tables from committed data

Each run is claimed while it trains (experiments/sweep.py), so the same command can be
started once per core (e.g. under ``taskset -c <core>``) to spread a sweep: each process
skips the runs another holds (add --skip_existing so that a rerun skips stored runs too).
Small batches leave a second core little to do within one process, so one process per
core is the faster way through a sweep; `taskset -c 0 python scripts/bench_predictron.py`
against the same without taskset shows a machine's own figures.
"""

from experiments import launch  # pylint: disable=g-bad-import-order

if __name__ == '__main__':
  launch.preload_tcmalloc()  # before JAX starts; see experiments/launch.py

import functools  # pylint: disable=g-import-not-at-top,wrong-import-position
import pathlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import sys

from absl import app
from absl import flags

from configs import predictron as predictron_config
from experiments import experiment
from experiments import interrupts
from experiments import predictron_adaptive
from experiments import predictron_results
from experiments import sweep

_DOMAINS = flags.DEFINE_list('domains', ['maze'], 'maze and/or pool.')
_DEPTHS = flags.DEFINE_list('depths', ['2', '4', '8', '16'], 'Depths K (baseline layers).')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds of every setting.')
_CONSISTENCY = flags.DEFINE_list('consistency', ['0', '1', '9'],
                                 'Consistency updates per labelled update to compare.')
_EXAMPLES = flags.DEFINE_integer('examples', 64_000, 'Labelled examples per run.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Examples per batch.')
_SIZE = flags.DEFINE_integer('size', 8, "The mazes' side in cells (the paper: 20).")
_POOL_SIZE = flags.DEFINE_integer('pool_size', 14, "The pool renders' side in pixels (the "
                                  'paper: 28; at 14 a ball is about 2.5 pixels across).')
_MODELS = flags.DEFINE_multi_string('models', [], 'Only these models of the plan, one per '
                                     'flag (--models=rgl,no_usage --models=feedforward); '
                                     'none: all.')
_ADAPTIVE_BATCHES = flags.DEFINE_integer('adaptive_batches', 10, 'Test batches of the '
                                         'adaptive-depth evaluation.')
_RUNS = flags.DEFINE_string('runs', 'runs/reproduce_predictron', 'Parent of the workdirs.')
_OUT = flags.DEFINE_string('out', 'results/predictron', 'Where the runs and tables go.')
_SKIP_EXISTING = flags.DEFINE_bool('skip_existing', False, 'Skip runs already stored under '
                                   '<out>/runs/ (e.g. committed by an earlier session whose '
                                   'workdirs are gone).')
_REGENERATE_ONLY = flags.DEFINE_bool('regenerate_only', False, 'Train nothing: rebuild the '
                                     'tables from the committed runs.')


def _size(domain: str) -> int:
  return _POOL_SIZE.value if domain == 'pool' else _SIZE.value


def _config(run: predictron_results.Planned):
  parts = [run.domain, run.model, f'depth={run.depth}', f'batch={_BATCH_SIZE.value}',
           f'size={_size(run.domain)}']
  if run.consistency:
    parts.append(f'consistency={run.consistency}')
  config = predictron_config.get_config(','.join(parts))
  config.seed = run.seed
  config.total_examples = _EXAMPLES.value
  experiment.validate(config)
  return config


def _train(run: predictron_results.Planned, out: pathlib.Path) -> None:
  config = _config(run)
  name = predictron_results.run_name(run.domain, run.model, run.depth, run.consistency,
                                     run.seed)
  workdir = pathlib.Path(_RUNS.value) / name
  print(f'--- {name}', flush=True)
  with interrupts.stop_on_signals() as stop:
    result = experiment.train(config, workdir, stop=stop)
  if result.interrupted:
    sys.exit(f'stopped by {result.interrupted} at update {result.updates:,}; checkpoint '
             f'saved in {workdir}/checkpoints; rerun the same command to resume')
  adaptive = None
  if run.model == predictron_results.BEST and not run.consistency:
    adaptive = predictron_adaptive.evaluate(workdir, num_batches=_ADAPTIVE_BATCHES.value)
  info = predictron_results.RunInfo(
      domain=run.domain, model=run.model, depth=run.depth, consistency=run.consistency,
      seed=run.seed, examples=_EXAMPLES.value, batch_size=_BATCH_SIZE.value,
      size=_size(run.domain),
      metric=predictron_results.metric_of(run.model))
  run_dir = predictron_results.store_run(workdir / 'metrics.jsonl', out, info, adaptive)
  for path in predictron_results.plot_run(run_dir):
    print(f'plot: {path}')


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  unknown = sorted(set(_DOMAINS.value) - {'maze', 'pool'})
  if unknown:
    sys.exit(f'--domains: unknown {unknown}; expected maze and/or pool')
  known = set(predictron_results.ABLATIONS) | set(predictron_results.AT_EVERY_DEPTH)
  unknown = sorted(set(_MODELS.value) - known)
  if unknown:
    sys.exit(f'--models: unknown {unknown} (one model per flag: --models=rgl '
             f'--models=feedforward); expected some of {sorted(known)}')
  if not _REGENERATE_ONLY.value:
    planned = [run for run in predictron_results.plan(
        _DOMAINS.value, [int(d) for d in _DEPTHS.value], [int(s) for s in _SEEDS.value],
        [int(c) for c in _CONSISTENCY.value])
               if not _MODELS.value or run.model in _MODELS.value]
    sweep.run_plan(
        [(predictron_results.run_name(run.domain, run.model, run.depth, run.consistency,
                                      run.seed), functools.partial(_train, run, out))
         for run in planned],
        out=out, runs=_RUNS.value, skip_existing=_SKIP_EXISTING.value,
        after_each=lambda: predictron_results.regenerate(out),
        print_fn=lambda line: print(line, flush=True))
  print(predictron_results.regenerate(out))


if __name__ == '__main__':
  app.run(main)
