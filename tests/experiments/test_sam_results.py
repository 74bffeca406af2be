"""results/sam: the figures of a run's log, the per-setting summary and the script end to
end on a smoke budget."""

import json
import subprocess
import sys

import pytest

from experiments import results_store
from experiments import sam_results

INFO = sam_results.RunInfo(model='sam', task='copy', seed=0, examples=1000,
                           metric='bit_errors_per_sequence', threshold=1.0)


def _records(errors, per_record=100):
  return [{'step': i + 1, 'examples': (i + 1) * per_record, 'bit_errors_per_sequence': e}
          for i, e in enumerate(errors)]


def test_to_target_is_the_first_window_mean_at_the_threshold():
  # Window means of 5 records: first <= 1 when the records are 3, 1, 0.5, 0.4, 0.1 ->
  # mean 1.0, at the 9th record (900 examples); a single low record earlier does not count.
  errors = [9, 8, 0.2, 6, 3, 1, 0.5, 0.4, 0.1, 0.1]
  summary = sam_results.summarise_run(_records(errors), INFO)
  assert summary.to_target == 900
  assert summary.final == pytest.approx(sum(errors[-5:]) / 5)
  assert summary.examples == 1000


def test_never_reaching_the_threshold_and_resumes():
  # A session logged up to 300 examples and was killed after its checkpoint at 200; the
  # resumed session logged 300 again: the killed session's record at 300 is dropped.
  killed = _records([5, 4, 0.0])
  records = killed + _records([5, 4, 3, 3, 3])[2:]
  summary = sam_results.summarise_run(records, INFO)
  assert summary.to_target is None and summary.final == pytest.approx(18 / 5)


def test_censored_median():
  assert results_store.censored_median([300, None, 100]) == 300
  assert results_store.censored_median([None, None, 100]) is None
  assert results_store.censored_median([100, 200]) == 150
  assert results_store.censored_median([]) is None


def test_store_and_regenerate(tmp_path):
  metrics = tmp_path / 'metrics.jsonl'
  for seed, errors in ((0, [3, 2, 1, 0.5, 0.2, 0.1]), (1, [3, 3, 3, 3, 3, 3])):
    metrics.write_text(''.join(json.dumps(r) + '\n' for r in _records(errors)))
    sam_results.store_run(metrics, tmp_path / 'out', INFO._replace(seed=seed))
  readme = sam_results.regenerate(tmp_path / 'out')
  assert '| copy | sam | 0, 1 | 1/2 |' in readme
  summary = json.loads((tmp_path / 'out' / results_store.SUMMARY_FILENAME).read_text())
  assert [s['to_target'] for s in summary] == [600, None]


def test_script_trains_stores_and_regenerates(tmp_path):
  proc = subprocess.run(
      [sys.executable, 'scripts/reproduce_sam.py', '--models=sam', '--tasks=copy',
       '--seeds=0', '--examples=64', '--variants=smoke', f'--runs={tmp_path}/runs',
       f'--out={tmp_path}/out'], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  run = sam_results.load_run(tmp_path / 'out' / 'runs' / 'sam-copy-seed0')
  assert run.info.examples == 64 and run.records[-1]['examples'] >= 64
  assert (tmp_path / 'out' / 'README.md').read_text().count('| copy | sam |') == 2
  assert list((tmp_path / 'out' / 'runs' / 'sam-copy-seed0').glob('*.png'))


def test_a_curriculum_runs_longer_test_is_stored_and_tabled(tmp_path):
  metrics = tmp_path / 'metrics.jsonl'
  metrics.write_text(''.join(json.dumps(r) + '\n' for r in _records([3, 1, 0.5])))
  info = INFO._replace(task='copy_curriculum')
  generalisation = {'level': 64, 'max_level': 128, 'factor': 10, 'num_rows': 2048,
                    'task': 'copy', 'num_batches': 4,
                    'at_level': {'bit_errors_per_sequence': 0.5, 'length': 64},
                    'longer': {'bit_errors_per_sequence': 160.0, 'length': 640}}
  sam_results.store_run(metrics, tmp_path / 'out', info, generalisation)
  sam_results.store_run(metrics, tmp_path / 'out', INFO)   # a plain run: no such section row
  readme = sam_results.regenerate(tmp_path / 'out')
  assert ('| copy_curriculum | sam | 0 | 2,048 | 64 (cap 128) | 0.50 | 640 | 160.00 | 0.250 |'
          in readme)
  assert readme.count('| copy') == 2 + 2 + 1   # settings, runs, one curriculum row
  summary = json.loads((tmp_path / 'out' / results_store.SUMMARY_FILENAME).read_text())
  assert [s.get('generalisation') for s in summary] == [None, generalisation]


@pytest.mark.slow  # trains a smoke curriculum run and evaluates it twice (about 40 s)
def test_script_tests_a_curriculum_run_on_longer_episodes(tmp_path):
  proc = subprocess.run(
      [sys.executable, 'scripts/reproduce_sam.py', '--models=sam', '--tasks=copy_curriculum',
       '--seeds=0', '--examples=64', '--variants=smoke', '--longer_factor=2',
       f'--runs={tmp_path}/runs', f'--out={tmp_path}/out'],
      capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  run = sam_results.load_run(tmp_path / 'out' / 'runs' / 'sam-copy_curriculum-seed0')
  g = run.generalisation
  # smoke shrank the curriculum's memory and cap too: 8 rows, levels up to 4.
  assert g['num_rows'] == 8 and g['max_level'] == 4 and 1 <= g['level'] <= 4
  assert g['longer']['length'] == 2 * g['level'] and g['at_level']['length'] == g['level']
  assert g['longer']['bit_errors_per_sequence'] >= 0


def test_script_refuses_a_memory_too_small_for_the_longer_test(tmp_path):
  proc = subprocess.run(
      [sys.executable, 'scripts/reproduce_sam.py', '--tasks=recall_curriculum',
       '--curriculum_rows=1000', '--curriculum_max_level=32', f'--runs={tmp_path}/runs',
       f'--out={tmp_path}/out'], capture_output=True, text=True, timeout=600)
  assert proc.returncode != 0
  # 10 x 32 items of 3 vectors and a delimiter: 1,280 words.
  assert ('recall_curriculum: 1000 memory rows (--curriculum_rows) are too few for the '
          'longer test: --longer_factor x the cap = 320 presents 1280 words') in proc.stderr
  assert not (tmp_path / 'runs').exists()


def _setting(model, task, to_targets, finals=None):
  seeds = tuple(range(len(to_targets)))
  return sam_results.Setting(model, task, seeds, sum(t is not None for t in to_targets),
                             results_store.censored_median(list(to_targets)),
                             tuple(finals or [0.0] * len(seeds)))


def test_the_claim_is_called_on_medians_of_enough_seeds_only():
  found = sam_results.claims([
      _setting('sam', 'copy', [100, 150, 120]), _setting('ntm', 'copy', [200, 90, 300]),
      _setting('dnc', 'copy', [50]),
      _setting('sam', 'recall', [None, None, 500]), _setting('ntm', 'recall', [400, 600, 800]),
      _setting('sam', 'oneshot', [None] * 3, finals=[0.1, 0.2, 0.15]),
      _setting('dnc', 'oneshot', [None] * 3, finals=[0.4, 0.1, 0.5]),
      _setting('sam', 'sort', [None, None, 1], finals=[9, 12, 1]),
      _setting('ntm', 'sort', [None, 5, None], finals=[10, 3, 11]),
      _setting('dnc', 'sort', [None, None, None], finals=[8, 8.5, 9.5])])
  assert [(c.task, c.holds) for c in found] == [
      ('copy', True),      # 120 against 200
      ('copy', None),      # the DNC ran one seed
      ('oneshot', True),   # error 0.15 against 0.4
      ('recall', False),   # SAM's median never reached; the NTM's 600
      ('sort', None),      # neither median reached: no threshold to compare ...
      ('sort', True),      # ... so the final errors are: median 9 against 10
      ('sort', None),
      ('sort', False)]     # 9 against the DNC's 8.5
  assert 'seeds: sam 3, dnc 1' in found[1].evidence
  assert 'sam 9.00, dnc 8.50 (median final)' in found[-1].evidence


def test_no_comparison_is_said_so(tmp_path):
  metrics = tmp_path / 'metrics.jsonl'
  metrics.write_text(''.join(json.dumps(r) + '\n' for r in _records([3, 1, 0.5])))
  sam_results.store_run(metrics, tmp_path / 'out', INFO)
  assert 'nothing to compare' in sam_results.regenerate(tmp_path / 'out')
