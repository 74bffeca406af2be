r"""Speed and memory of SAM against the dense memories, as JSON (also written to
results/bench/memory.json).

The SAM paper's set-up (LSTM controller 100, words of 32, 4 heads, K = 4), for each memory
size N and model (experiments/memory_benchmark.py):
  step_time_s            one forward+backward step, seconds: the jitted gradient of an
                         unroll of --time_steps steps at --batch less that of an unroll of
                         a fifth as many steps, over the difference of the steps (each
                         call timed over >= --min_seconds), so that the once-per-call O(N)
                         setup (zeroing the memory and its gradient, the empty index) is
                         not counted as stepping (experiments/memory_benchmark.py).
                         ``call_time_per_step_s``: the long call's time / its steps, setup
                         included. Where the program would not fit in --budget_gib (or a
                         call would take over --max_call_seconds), the unroll is shortened
                         to 2 steps, then the batch cut to 1, and the step time is the call
                         time / steps (``batch``/``steps``/``step_time_method`` say what
                         ran); ``step_time_per_example_s`` divides by the batch.
  backprop_added_bytes   over --memory_steps steps at batch 1: peak(forward+backward) −
                         peak(forward) − the memory's gradient (XLA's accounting of the
                         compiled programs: exact, and needs no run).
Speed figures are medians over --repeats with their spread; the ratios
``speedup_vs_ntm`` (NTM's per-example step time over SAM's), ``speedup_vs_ntm_approx``
(the same for SAM with the LSH index, ``sam_lsh``) and ``backprop_memory_ratio_vs_ntm``
are keyed by N, the speed ratios taken within each repeat; ``sdnc_speedup_vs_dnc`` and
``sdnc_backprop_memory_ratio_vs_dnc`` compare the sparse DNC with the DNC the same way.
``lsh_recall`` (by N, with sam_lsh): the LSH index's recall against the exact top-K on
random rows queried by noisy copies (``memory_benchmark.lsh_recall``).

  python scripts/bench_memory.py                     # all sizes (~1 hour on 2 cores)
  python scripts/bench_memory.py --sizes=1024,4096 --models=sam,ntm --repeats=1 \
      --out=/tmp/memory.json                         # a quick look
  python scripts/bench_memory.py --table_from=results/bench/memory.json   # its table
  python scripts/bench_memory.py --sizes=65536,1048576 --models=sam_lsh --min_seconds=3 \
      --out=results/bench/memory_lsh.json                 # the LSH index's growth

At 1M rows a call's setup (≈ 0.1 s of zeroing a 1 GB memory and its gradient) dwarfs a
step of the LSH index (a few ms): its marginal step time needs a long unroll
(--lsh_time_steps=250 against 50) for the setup's noise to stay below the steps' time.
The other models keep --time_steps (SAM-exact's 1M step alone is 0.1 s).
"""

import inspect
import json
import pathlib
import platform

import jax
from absl import app
from absl import flags

from experiments import bench_stats
from experiments import memory_bench_table
from experiments import memory_benchmark as mb
from memory import index as index_lib

_SIZES = flags.DEFINE_list('sizes', ['1024', '4096', '16384', '65536', '262144', '1048576'],
                           'Memory sizes N (rows).')
_MODELS = flags.DEFINE_list('models', ['sam', 'sam_lsh', 'dam', 'ntm', 'dnc', 'sdnc'],
                            'Models (memory/cores.py; sam_lsh: SAM with the LSH index).')
_BATCH = flags.DEFINE_integer('batch', 8, 'Batch for the step time.')
_TIME_STEPS = flags.DEFINE_integer('time_steps', 50, 'Unrolled steps per timed call.')
_LSH_TIME_STEPS = flags.DEFINE_integer('lsh_time_steps', 250, 'Unrolled steps per timed '
                                       'call of sam_lsh (see the module docstring).')
_MEMORY_STEPS = flags.DEFINE_integer('memory_steps', 100, 'Steps for the memory figure.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Repeats of each step time (>= 3 to report).')
_MIN_SECONDS = flags.DEFINE_float('min_seconds', 1.0, 'Timed seconds per figure and repeat.')
_BUDGET_GIB = flags.DEFINE_float('budget_gib', 12.0, 'Largest program (peak GiB) to run.')
_MAX_CALL_SECONDS = flags.DEFINE_float('max_call_seconds', 10.0, 'A timed call longer than '
                                        'this is redone with a 2-step unroll.')
_OUT = flags.DEFINE_string('out', 'results/bench/memory.json', 'Where the JSON goes.')
_TABLE_FROM = flags.DEFINE_string('table_from', None, 'Measure nothing: print the markdown '
                                  'table of this report (results/bench/NOTES.md).')

# Unrolls at least this long are also timed at a fifth of their length (the marginal step).
_MIN_MARGINAL_STEPS = 10

# Models whose state is N×N (the DNC's temporal links) are not built beyond this.
_MAX_ROWS = {'dnc': 4096}


def _skip_reason(name: str, num_rows: int) -> str | None:
  if num_rows > _MAX_ROWS.get(name, num_rows):
    return (f'its N×N link matrix alone is {num_rows ** 2 * 4 / 2 ** 30:,.0f} GiB per '
            f'sequence')
  return None


def _timed_program(name, num_rows, budget_bytes, print_fn):
  """The largest of (batch, T), (batch, 2), (1, 2) whose program fits the budget and
  whose call takes at most --max_call_seconds."""
  longest = _LSH_TIME_STEPS.value if name == 'sam_lsh' else _TIME_STEPS.value
  for batch, steps in ((_BATCH.value, longest), (_BATCH.value, 2), (1, 2)):
    program = mb.make_program(name, num_rows=num_rows, batch_size=batch, num_steps=steps)
    peak = mb.peak_bytes(program.grad, program.params)
    if peak > budget_bytes:
      print_fn(f'  {name} N={num_rows}: batch {batch} x {steps} steps needs '
               f'{peak / 2 ** 30:.1f} GiB > budget')
      continue
    call = mb.call_seconds(program)
    if call <= _MAX_CALL_SECONDS.value or steps == 2:
      return program, batch, steps, peak
    print_fn(f'  {name} N={num_rows}: batch {batch} x {steps} steps takes {call:.0f} s a '
             f'call > {_MAX_CALL_SECONDS.value:g}')
  return None, None, None, peak


def _measure_size(num_rows, models, print_fn) -> dict:
  budget = int(_BUDGET_GIB.value * 2 ** 30)
  results, programs = {}, {}
  for name in models:
    reason = _skip_reason(name, num_rows)
    if reason:
      results[name] = {'skipped': reason}
      continue
    memory = mb.backprop_memory(name, num_rows=num_rows, num_steps=_MEMORY_STEPS.value)
    program, batch, steps, peak = _timed_program(name, num_rows, budget, print_fn)
    results[name] = dict(memory, batch=batch, steps=steps, timed_peak_bytes=peak)
    if program is None:
      results[name]['step_time_skipped'] = (
          f'needs {peak / 2 ** 30:.1f} GiB at batch 1 x 2 steps (budget {_BUDGET_GIB.value})')
    else:
      programs[name] = program
    print_fn(f'  {name} N={num_rows}: backprop adds {memory["backprop_added_bytes"]:,} B')
  shorts = {}
  for name in programs:
    steps = results[name]['steps']
    if steps >= _MIN_MARGINAL_STEPS:
      shorts[name] = mb.make_program(name, num_rows=num_rows, batch_size=results[name]['batch'],
                                     num_steps=steps // 5)
    results[name]['step_time_method'] = (
        f'marginal: (call at T={steps} - call at T={steps // 5}) / {steps - steps // 5}'
        if name in shorts else f'call at T={steps} / {steps}')
  samples = {name: [] for name in programs}
  per_call = {name: [] for name in programs}
  for repeat in range(_REPEATS.value):
    for name, program in programs.items():  # models take turns within a repeat
      steps = results[name]['steps']
      if name in shorts:
        seconds, with_setup = mb.marginal_step_time(program, steps, shorts[name], steps // 5,
                                                    min_seconds=_MIN_SECONDS.value)
      else:
        seconds = with_setup = mb.call_time(program, min_seconds=_MIN_SECONDS.value) / steps
      samples[name].append(seconds)
      per_call[name].append(with_setup)
      print_fn(f'  repeat {repeat}: {name} N={num_rows}: {seconds * 1e3:.2f} ms/step, '
               f'{with_setup * 1e3:.2f} with setup (batch {results[name]["batch"]})')
  for name, values in samples.items():
    results[name]['step_time_s'] = bench_stats.spread(values)
    results[name]['call_time_per_step_s'] = bench_stats.spread(per_call[name])
    results[name]['step_time_per_example_s'] = bench_stats.spread(
        [v / results[name]['batch'] for v in values])
  return results


def _speedup(ntm: dict, other: dict) -> dict | None:
  key = 'step_time_per_example_s'
  if key not in ntm or key not in other:
    return None
  return bench_stats.spread(bench_stats.ratios(ntm[key]['samples'], other[key]['samples']))


def _memory_ratio(dense: dict, sparse: dict) -> float | None:
  key = 'backprop_added_bytes'
  if key not in dense or key not in sparse:
    return None
  return dense[key] / max(sparse[key], 1)


def _ratios(by_size: dict) -> dict:
  """SAM's (exact and LSH) ratios over the NTM, and the SDNC's over the DNC, by N."""
  pairs = {'speedup_vs_ntm': ('ntm', 'sam', _speedup),
           'speedup_vs_ntm_approx': ('ntm', 'sam_lsh', _speedup),
           'backprop_memory_ratio_vs_ntm': ('ntm', 'sam', _memory_ratio),
           'sdnc_speedup_vs_dnc': ('dnc', 'sdnc', _speedup),
           'sdnc_backprop_memory_ratio_vs_dnc': ('dnc', 'sdnc', _memory_ratio)}
  out = {field: {} for field in pairs}
  for size, results in by_size.items():
    for field, (dense, sparse, ratio_of) in pairs.items():
      ratio = ratio_of(results.get(dense, {}), results.get(sparse, {}))
      if ratio is not None:
        out[field][size] = ratio
  return out


def _lsh_setup(sizes) -> dict:
  """The LSH index's defaults (memory/index.py) at each size: what sam_lsh measured."""
  defaults = inspect.signature(index_lib.lsh).parameters
  out = {'num_tables': defaults['num_tables'].default}
  for size in sizes:
    bits, bucket_size = index_lib.lsh_sizes(size)
    out[str(size)] = {'bits': bits, 'bucket_size': bucket_size,
                      'probes': index_lib.default_probes(bits)}
  return out


def main(argv):
  del argv
  if _TABLE_FROM.value:
    report = json.loads(pathlib.Path(_TABLE_FROM.value).read_text())
    print(memory_bench_table.table(report), end='')
    if '65536' in report['by_size'] and '1048576' in report['by_size']:
      grown = memory_bench_table.growth(report, 'sam_lsh', 65536, 1048576)
      print(f"\nsam_lsh step time 64K -> 1M: {grown['of_medians']:.2f}x (ratio of medians); "
            f"per repeat {', '.join(f'{g:.2f}x' for g in grown['per_repeat'])}")
    return
  by_size, recall = {}, {}
  for size in map(int, _SIZES.value):
    print(f'N = {size:,}', flush=True)
    by_size[str(size)] = _measure_size(size, _MODELS.value,
                                       lambda s: print(s, flush=True))
    if 'sam_lsh' in _MODELS.value:
      recall[str(size)] = mb.lsh_recall(size)
      print(f'  sam_lsh N={size}: {recall[str(size)]}', flush=True)
  report = {
      'setup': {'controller': 100, 'word_size': 32, 'heads': 4, 'k': 4,
                'batch': _BATCH.value, 'time_steps': _TIME_STEPS.value,
                'lsh_time_steps': _LSH_TIME_STEPS.value,
                'memory_steps': _MEMORY_STEPS.value, 'repeats': _REPEATS.value,
                'budget_gib': _BUDGET_GIB.value, 'backend': jax.default_backend(),
                'machine': platform.processor() or platform.machine(),
                'lsh_index': _lsh_setup(map(int, _SIZES.value))},
      **_ratios(by_size),
      'lsh_recall': recall,
      'by_size': by_size,
  }
  bench_stats.print_and_write(report, _OUT.value)


if __name__ == '__main__':
  app.run(main)
