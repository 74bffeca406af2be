r"""Asynchronous-runtime throughput on this machine, as JSON (also written to
results/bench/a3c.json).

For each environment (CartPole through gymnasium, Pong through ale-py with the A3C
paper's shallow net), each worker backend (processes, threads) and each worker count
(1, 2, ... up to the cores), a run of configs/a3c.py trains for --seconds after its
workers have compiled and made their first updates, and reports
  env_fps         environment frames per second (Atari: 4 frames per agent step)
  updates_per_s   gradient applications per second (each of t_max = 5 agent steps)
  cpu_per_wall    the workers' CPU seconds per wall second (how many cores they kept busy)
Every figure is measured --repeats (>= 3) times, the settings taking turns within each
repeat so that load from other processes falls on all alike, and reported as
``{"median", "min", "max", "samples"}``. Speed-ups are ratios within a repeat
(``speedup_1_to_2_workers``: the process backend's env_fps with 2 workers over 1, per
environment; ``process_over_thread``: processes over threads at the same worker count).

  python scripts/bench_a3c.py                        # both envs, 3 repeats (~6 minutes)
  python scripts/bench_a3c.py --envs=cartpole --seconds=2 --out=/tmp/a3c.json  # smoke
"""

import os
import time

from absl import app
from absl import flags

from configs import a3c
from experiments import async_workers as async_exp
from experiments import bench_stats

_ENVS = flags.DEFINE_list('envs', ['cartpole', 'pong'], 'Environments: cartpole, pong.')
_BACKENDS = flags.DEFINE_list('backends', ['process', 'thread'], 'Worker backends.')
_WORKERS = flags.DEFINE_list('workers', None, 'Worker counts (default: 1, 2, ... cores).')
_SECONDS = flags.DEFINE_float('seconds', 10.0, 'Measured seconds per setting and repeat.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Repeats of every figure (>= 3 for a report).')
_OUT = flags.DEFINE_string('out', 'results/bench/a3c.json', 'Where the JSON goes.')

_VARIANTS = {'cartpole': 'a3c,cartpole', 'pong': 'a3c,game=pong'}
_WARMUP_UPDATES = 20  # per worker, after which compilation is surely over


def _config(env: str, backend: str, workers: int):
  config = a3c.get_config(_VARIANTS[env])
  config.runtime.backend = backend
  config.runtime.num_workers = workers
  config.total_frames = 10**9  # the measurement, not the budget, ends the run
  return config


def measure(env: str, backend: str, workers: int, seconds: float) -> dict:
  """One setting's figures over ``seconds`` of steady training."""
  config = _config(env, backend, workers)
  runtime, state, frames_per_step = async_exp.build(config)
  per_update = async_exp.frames_per_update(config, frames_per_step)
  with runtime.start(state) as session:
    while session.applied < _WARMUP_UPDATES * workers:
      session.step()
    start_updates, start = session.applied, time.monotonic()
    reports = []
    while time.monotonic() - start < seconds:
      reports += session.step()[1]['reports']
    updates, elapsed = session.applied - start_updates, time.monotonic() - start
  # Reports that began before the window would overstate the CPU time; drop them.
  cpu_s = sum(r['cpu_s'] for r in reports if r['since'] >= start)
  return {'env_fps': updates * per_update / elapsed, 'updates_per_s': updates / elapsed,
          'cpu_per_wall': cpu_s / elapsed}


def main(argv):
  del argv
  if _REPEATS.value < 3:
    print('note: fewer than 3 repeats; fine for a smoke run, not for a report')
  cores = os.cpu_count() or 1
  worker_counts = [int(w) for w in _WORKERS.value] if _WORKERS.value else list(
      range(1, max(cores, 2) + 1))
  settings = [(e, b, w) for e in _ENVS.value for b in _BACKENDS.value for w in worker_counts]
  samples = {s: [] for s in settings}
  for repeat in range(_REPEATS.value):
    for setting in settings:
      samples[setting].append(measure(*setting, _SECONDS.value))
      print(f'repeat {repeat + 1}/{_REPEATS.value} {setting}: {samples[setting][-1]}',
            flush=True)

  figures = {}
  for (env, backend, workers), runs in samples.items():
    figures.setdefault(env, {}).setdefault(backend, {})[str(workers)] = {
        key: bench_stats.spread([r[key] for r in runs]) for key in runs[0]}

  def fps(env, backend, workers):
    return [r['env_fps'] for r in samples[(env, backend, workers)]]

  result = {
      'machine': {'cpu_count': cores},
      'seconds_per_figure': _SECONDS.value,
      'repeats': _REPEATS.value,
      'figures': figures,
      'speedup_1_to_2_workers': {},
      'speedup_1_to_2_workers_spread': {},
      'process_over_thread': {},
  }
  for env in _ENVS.value:
    if 'process' in _BACKENDS.value and {1, 2} <= set(worker_counts):
      ratio = bench_stats.spread(bench_stats.ratios(fps(env, 'process', 2),
                                                    fps(env, 'process', 1)))
      result['speedup_1_to_2_workers'][env] = ratio['median']
      result['speedup_1_to_2_workers_spread'][env] = ratio
    if {'process', 'thread'} <= set(_BACKENDS.value):
      result['process_over_thread'][env] = {
          str(w): bench_stats.spread(bench_stats.ratios(fps(env, 'process', w),
                                                        fps(env, 'thread', w)))
          for w in worker_counts}
  bench_stats.print_and_write(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
