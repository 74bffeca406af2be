"""experiments/memory_benchmark.py: the marginal step time and the LSH recall figure."""

import pytest

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
