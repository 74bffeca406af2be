r"""Times a memory model's update on copy batches padded to a curriculum's cap, with and
without skipping the steps after the batch's last scored step.

Under the exponential curriculum (envs/curriculum.py) every batch is padded to the cap's
length, ``T = 2 * max_level + 1``, whatever level h it is drawn at. The sequence model
(memory/sequence_model.py) skips whole chunks of steps after the last scored one
(``core.unroll.unroll``'s ``active_steps``). For each level h (lengths U{1, h}, as the
curriculum draws them) this times one jitted gradient of the loss both ways, in
alternation within each repeat, and reports the medians and the per-repeat speed-up.

  python scripts/bench_padded_unroll.py                     # SAM, 2,048 rows, cap 128
  python scripts/bench_padded_unroll.py --core=lstm --levels=1,128 --repeats=3
"""

from experiments import launch  # pylint: disable=g-bad-import-order

if __name__ == '__main__':
  launch.preload_tcmalloc()  # before JAX starts; see experiments/launch.py

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags
import jax
import jax.numpy as jnp

from envs import copy_task
from experiments import bench_stats
from memory import cores
from memory import sequence_model

_CORE = flags.DEFINE_string('core', 'sam', 'memory/cores.py core.')
_ROWS = flags.DEFINE_integer('rows', 2048, 'Memory rows.')
_CAP = flags.DEFINE_integer('cap', 128, "The curriculum's max_level: the padded length.")
_LEVELS = flags.DEFINE_list('levels', ['1', '8', '32', '128'], 'Levels h to time.')
_BATCH = flags.DEFINE_integer('batch', 16, 'Sequences per batch (configs/memory_tasks.py).')
_SKIP_CHUNK = flags.DEFINE_integer('skip_chunk', 16, 'Steps per skippable chunk.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Repeats of every figure (>= 3 to report).')
_MIN_SECONDS = flags.DEFINE_float('min_seconds', 1.0, 'Timed seconds per figure and repeat.')
_OUT = flags.DEFINE_string('out', 'results/bench/padded_unroll.json', 'Where the JSON goes.')


def main(argv):
  del argv
  core = cores.make_core(_CORE.value, controller_size=100, num_rows=_ROWS.value,
                         word_size=32, num_reads=4, k=4)
  models = {'full': sequence_model.make_model(core, 8, 'bits', skip_chunk=None),
            'skip': sequence_model.make_model(core, 8, 'bits', skip_chunk=_SKIP_CHUNK.value)}
  updates = {name: jax.jit(jax.grad(lambda p, b, m=m: m.loss(p, b, None)[0]))
             for name, m in models.items()}
  report = {'core': _CORE.value, 'rows': _ROWS.value, 'cap': _CAP.value,
            'padded_steps': 2 * _CAP.value + 1, 'batch': _BATCH.value,
            'skip_chunk': _SKIP_CHUNK.value, 'repeats': _REPEATS.value,
            'backend': jax.default_backend(), 'by_level': {}}
  params = None
  for level in map(int, _LEVELS.value):
    lengths_key, vectors_key = jax.random.split(jax.random.PRNGKey(level))
    lengths = jax.random.randint(lengths_key, (_BATCH.value,), 1, level + 1)
    batch = copy_task.sample_with_lengths(vectors_key, lengths, bits=8, max_length=_CAP.value)
    if params is None:
      params = models['full'].init(jax.random.PRNGKey(0), batch)
    times = {name: [] for name in updates}
    for _ in range(_REPEATS.value):
      for name, update in updates.items():   # in turn: load hits both alike
        times[name].append(bench_stats.seconds_per_call(update, params, batch,
                                                        min_seconds=_MIN_SECONDS.value))
    report['by_level'][str(level)] = {
        'longest_length': int(jnp.max(lengths)),
        **{f'{name}_s': bench_stats.spread(values) for name, values in times.items()},
        'speedup': bench_stats.spread(bench_stats.ratios(times['full'], times['skip']))}
    print(f'level {level}: full {min(times["full"]) * 1e3:.1f} ms, skip '
          f'{min(times["skip"]) * 1e3:.1f} ms', flush=True)
  bench_stats.print_and_write(report, _OUT.value)


if __name__ == '__main__':
  app.run(main)
