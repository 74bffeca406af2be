r"""The predictron's training throughput and the maze generation rate, as JSON (also written
to results/bench/predictron.json).

  train_samples_per_s    labelled examples per second through the supervised runtime's
                         jitted update (``configs/predictron.py``: the data drawn in-graph,
                         the loss, the Adam step), per --setups entry ``domain:size:batch``
                         at K = --depth; the (r, γ, λ)-predictron with a shared core and the
                         feed-forward conv net of the same depth, measured in the same
                         repeats (``predictron_over_feedforward``: the ratio per repeat)
  maze_generation        random mazes (``envs/mazes.sample`` with their labels' flood
                         fill) per second, per maze size, in batches of --maze_batch
Every figure is the median of --repeats repeats with its spread; a repeat times calls for
at least --min_seconds after a compiled warm-up call.

  python scripts/bench_predictron.py                 # the paper's scale and the reduced one
  python scripts/bench_predictron.py --setups=maze:8:32 --repeats=3 --out=/tmp/p.json
"""

import itertools
import platform
import time

import jax
from absl import app
from absl import flags

from configs import predictron as predictron_config
from envs import mazes
from experiments import bench_stats
from experiments import experiment
from experiments import supervised

_SETUPS = flags.DEFINE_list('setups', ['maze:20:100', 'pool:28:100', 'maze:8:32'],
                            'domain:size:batch of each throughput figure.')
_DEPTH = flags.DEFINE_integer('depth', 16, 'K, the planning steps (and baseline layers).')
_MAZE_SIZES = flags.DEFINE_list('maze_sizes', ['20', '8'], 'Maze sides for the generation '
                                'rate.')
_MAZE_BATCH = flags.DEFINE_integer('maze_batch', 1000, 'Mazes per generated batch.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Repeats of every figure (>= 3 to report).')
_MIN_SECONDS = flags.DEFINE_float('min_seconds', 3.0, 'Timed seconds per figure and repeat.')
_OUT = flags.DEFINE_string('out', 'results/bench/predictron.json', 'Where the JSON goes.')


def _rate(call, items_per_call: int) -> float:
  """Items per second of ``call()`` (which blocks), over at least --min_seconds."""
  calls, start = 0, time.perf_counter()
  while True:
    call()
    calls += 1
    elapsed = time.perf_counter() - start
    if elapsed >= _MIN_SECONDS.value:
      return calls * items_per_call / elapsed


def _trainer(domain: str, size: int, batch: int, model: str):
  """A blocking call of one jitted update, and the examples it consumes."""
  config = predictron_config.get_config(
      f'{domain},{model},depth={_DEPTH.value},size={size},batch={batch}')
  config.runtime.updates_per_call = 1
  experiment.validate(config)
  runtime = supervised.build(config)
  state = [runtime.init(jax.random.PRNGKey(0))]
  update = jax.jit(runtime.update)

  def call():
    state[0], metrics = update(state[0])
    jax.block_until_ready(metrics)

  call()  # compile
  return call, runtime.examples_per_update


def _generator(size: int):
  sample = jax.jit(lambda i: mazes.sample(jax.random.fold_in(jax.random.PRNGKey(0), i),
                                          _MAZE_BATCH.value, size))
  counter = itertools.count()
  call = lambda: jax.block_until_ready(sample(next(counter)))
  call()  # compile
  return call


def main(argv):
  del argv
  trainers = {}
  for setup in _SETUPS.value:
    domain, size, batch = setup.split(':')
    for model in ('rgl', 'feedforward'):
      trainers[setup, model] = _trainer(domain, int(size), int(batch), model)
  generators = {int(s): _generator(int(s)) for s in _MAZE_SIZES.value}
  samples = {key: [] for key in trainers}
  generated = {size: [] for size in generators}
  for _ in range(_REPEATS.value):
    for key, (call, per_call) in trainers.items():
      samples[key].append(_rate(call, per_call))
    for size, call in generators.items():
      generated[size].append(_rate(call, _MAZE_BATCH.value))
  train = {}
  for setup in _SETUPS.value:
    predictron, feedforward = samples[setup, 'rgl'], samples[setup, 'feedforward']
    train[setup] = {
        'predictron': bench_stats.spread(predictron),
        'feedforward': bench_stats.spread(feedforward),
        'predictron_over_feedforward': bench_stats.spread(
            bench_stats.ratios(predictron, feedforward))}
  report = {
      'what': 'predictron training throughput (examples/s) at K = depth, and mazes '
              'generated per second; medians over repeats with their spread',
      'backend': jax.default_backend(), 'devices': jax.device_count(),
      'machine': platform.machine(), 'depth': _DEPTH.value, 'repeats': _REPEATS.value,
      'train_samples_per_s': train,
      'maze_generation_per_s': {f'{size}x{size}': bench_stats.spread(v)
                                for size, v in generated.items()},
      'maze_batch': _MAZE_BATCH.value,
  }
  bench_stats.print_and_write(report, _OUT.value)


if __name__ == '__main__':
  app.run(main)
