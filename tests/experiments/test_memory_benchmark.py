"""experiments/memory_benchmark.py: the marginal step time and the LSH recall figure."""

import pytest

from experiments import memory_bench_table as mbt
from experiments import memory_benchmark as mb


@pytest.mark.slow  # compiles four unrolls; scripts/bench_memory.py runs it in full
def test_marginal_step_time_leaves_out_the_per_call_setup():
  long = mb.make_program('sam', num_rows=64, batch_size=2, num_steps=20)
  short = mb.make_program('sam', num_rows=64, batch_size=2, num_steps=2)
  times = mb.marginal_step_time(long, 20, short, 2, min_seconds=0.1)
  # 18 more steps take longer than 2 (a margin for a noisy machine); each step costs less
  # than a whole call.
  assert 0 < times.marginal < 20 * times.per_call
  with pytest.raises(ValueError, match='long_steps'):
    mb.marginal_step_time(short, 2, long, 10)


def test_lsh_recall_of_noisy_copies_finds_the_source_rows():
  recall = mb.lsh_recall(512, num_queries=64)
  assert recall['recall_at_1'] >= 0.9 and recall['source_row_first'] >= 0.9
  assert 0.0 < recall['recall_at_k'] <= 1.0
  by_probes = recall['by_probes']
  assert sorted(by_probes, key=int) == ['1', '2', '3', '4']
  # More buckets, more candidates, and (the same tables) never fewer of the exact rows.
  candidates = [by_probes[p]['candidates'] for p in '1234']
  assert candidates == sorted(candidates) and candidates[0] < candidates[-1]
  assert by_probes['1']['recall_at_k'] <= by_probes['4']['recall_at_k']


def _timed(samples, batch=8, steps=50):
  return {'step_time_s': {'median': sorted(samples)[1], 'min': min(samples),
                          'max': max(samples), 'samples': samples},
          'batch': batch, 'steps': steps}


def test_table_rows_come_from_the_report_and_growth_pairs_repeats():
  report = {
      'speedup_vs_ntm': {'1024': {'median': 20.0, 'min': 15.0, 'max': 25.0}},
      'backprop_memory_ratio_vs_ntm': {'1024': 70.3},
      'lsh_recall': {'1024': {'recall_at_1': 1.0}},
      'by_size': {'1024': {'sam': _timed([0.001, 0.002, 0.003]),
                           'ntm': {'skipped': 'too big'}},
                  '4096': {'sam': _timed([0.004, 0.004, 0.009])}}}
  rows = mbt.table(report).splitlines()
  assert rows[0].startswith('| N | SAM exact / NTM speed |') and len(rows) == 4
  assert rows[2].startswith('| 1K | 20.0× [15.0, 25.0] | — | 70× | — | — | 2.00 (B8×T50) |')
  assert rows[2].endswith('| skipped | 1.000 |') and rows[3].endswith('| — | — |')
  grown = mbt.growth(report, 'sam', 1024, 4096)
  assert grown['of_medians'] == pytest.approx(2.0)
  assert grown['per_repeat'] == pytest.approx([4.0, 2.0, 3.0])
