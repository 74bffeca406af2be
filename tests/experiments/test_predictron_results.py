"""results/predictron: a run's figures, the medians, the paper's result checked on them,
the plan, and the script end to end on a tiny budget."""

import json
import subprocess
import sys

import pytest

from experiments import predictron_results as results
from experiments import results_store

INFO = results.RunInfo(domain='maze', model='rgl', depth=2, consistency=0, seed=0,
                       examples=300, batch_size=100, size=8, metric='rmse_lambda')


def _records(values, key='rmse_lambda', final=None):
  records = [{'step': i + 1, 'examples': (i + 1) * 100, key: v} for i, v in enumerate(values)]
  if final is not None:
    records[-1].update(final)
  return records


def test_a_run_summary_reads_the_final_evaluation_and_drops_superseded_records():
  final = {'eval_rmse_lambda': 0.25, 'eval_rmse_g0': 0.4, 'eval_rmse_g1': 0.3,
           'eval_rmse_g2': 0.2, 'eval_lambda_0': 0.9, 'eval_lambda_1': 0.5}
  killed = _records([0.9, 0.8, 0.0])   # cut off after its checkpoint at 200 examples
  records = killed + _records([0.9, 0.8, 0.6], final=final)[2:]
  summary = results.summarise_run(records, INFO)
  assert summary.examples == 300 and summary.final_eval == 0.25
  assert summary.final_train == pytest.approx((0.9 + 0.8 + 0.6) / 3)
  assert summary.k_step_eval == (0.4, 0.3, 0.2) and summary.lambdas == (0.9, 0.5)
  baseline = results.summarise_run(_records([0.7], key='rmse', final={'eval_rmse': 0.6}),
                                   INFO._replace(model='feedforward', metric='rmse'))
  assert baseline.final_eval == 0.6 and baseline.k_step_eval == ()


def _row(model, depth, seed, value, consistency=0):
  info = INFO._replace(model=model, depth=depth, seed=seed, consistency=consistency,
                       metric=results.metric_of(model))
  summary = results.RunSummary(300, value, value, (), (), None)
  return results.Row(results.run_name('maze', model, depth, consistency, seed), info, summary)


def test_medians_and_the_claims_that_hold_and_that_do_not():
  rows = [_row('rgl', 2, s, v) for s, v in enumerate([0.2, 0.1, 0.3])]
  rows += [_row('feedforward', 2, s, v) for s, v in enumerate([0.25, 0.15, 0.5])]
  rows += [_row('rgl', 4, 0, 0.3), _row('recurrent', 4, 0, 0.2)]
  rows += [_row('rgl', 2, 0, 0.19, consistency=1), _row('rgl', 2, 0, 0.18, consistency=9)]
  settings = {(s.model, s.depth, s.consistency): s for s in results.settings(rows)}
  assert settings['rgl', 2, 0].median == pytest.approx(0.2)
  assert settings['feedforward', 2, 0].finals == (0.25, 0.15, 0.5)
  assert [c.holds for c in results.claims(list(settings.values()))] == [
      True, True, False, False, True]   # K=2 lowest, beats; K=4 neither; consistency falls


def test_consistency_that_does_not_help_is_reported():
  rows = [_row('rgl', 2, 0, 0.2), _row('rgl', 2, 0, 0.21, consistency=1)]
  (claim,) = [c for c in results.claims(results.settings(rows)) if 'consistency' in c.statement]
  assert claim.holds is False and '0: 0.2000, 1: 0.2100' in claim.evidence


def test_consistency_is_compared_at_the_depth_of_its_runs_only():
  # rgl without consistency updates at K=2 (0.01) and K=32 (0.5) must not stand in for K=16.
  rows = [_row('rgl', 2, 0, 0.01), _row('rgl', 16, 0, 0.1), _row('rgl', 32, 0, 0.5),
          _row('rgl', 16, 0, 0.09, consistency=1), _row('rgl', 16, 0, 0.08, consistency=9)]
  (claim,) = [c for c in results.claims(results.settings(rows)) if 'consistency' in c.statement]
  assert claim.statement.startswith('K=16: ')
  assert claim.holds and claim.evidence == '0: 0.1000, 1: 0.0900, 9: 0.0800'


def test_the_plan_runs_whole_seeds_and_every_comparison():
  planned = results.plan(['maze'], [2, 16], [0, 1], consistency=(0, 1, 9))
  assert [p.seed for p in planned] == sorted(p.seed for p in planned)
  seed0 = {(p.model, p.depth, p.consistency) for p in planned if p.seed == 0}
  assert len(seed0) == len([p for p in planned if p.seed == 0])   # no run twice
  assert {m for m, d, c in seed0 if d == 16 and not c} == set(results.ABLATIONS) | set(
      results.AT_EVERY_DEPTH)
  assert {m for m, d, c in seed0 if d == 2} == set(results.AT_EVERY_DEPTH)
  assert {c for m, d, c in seed0 if c} == {1, 9}


def test_store_and_regenerate_with_an_adaptive_report(tmp_path):
  metrics = tmp_path / 'metrics.jsonl'
  adaptive = {'thresholds': [0.1], 'mean_depth': [1.5], 'rmse': [0.3], 'full_rmse': 0.29,
              'examples': 100}
  for seed, value in ((0, 0.2), (1, 0.4)):
    metrics.write_text(''.join(json.dumps(r) + '\n' for r in _records(
        [0.5, value], final={'eval_rmse_lambda': value})))
    results.store_run(metrics, tmp_path / 'out', INFO._replace(seed=seed), adaptive)
  readme = results.regenerate(tmp_path / 'out')
  assert '| rgl | 0.3000 (2) |' in readme
  assert '| maze-rgl-k2-seed0 | 0.1 | 1.50 | 0.3000 | 0.2900 |' in readme
  summary = json.loads((tmp_path / 'out' / results_store.SUMMARY_FILENAME).read_text())
  assert [s['final_eval'] for s in summary] == [0.2, 0.4]
  assert results.load_run(tmp_path / 'out' / 'runs' / 'maze-rgl-k2-seed1').adaptive == adaptive


def test_script_trains_stores_and_regenerates(tmp_path):
  proc = subprocess.run(
      [sys.executable, 'scripts/reproduce_predictron.py', '--models=rgl',
       '--depths=1', '--seeds=0', '--consistency=0', '--examples=16', '--batch_size=4',
       '--size=5', '--adaptive_batches=1', f'--runs={tmp_path}/runs',
       f'--out={tmp_path}/out'], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  runs = tmp_path / 'out' / 'runs'
  assert sorted(p.name for p in runs.iterdir()) == ['maze-rgl-k1-seed0']
  run = results.load_run(runs / 'maze-rgl-k1-seed0')
  assert run.info.size == 5 and run.adaptive['mean_depth'] == [1.0] * 4
  assert list((runs / 'maze-rgl-k1-seed0').glob('*.png'))


def test_script_skips_stored_runs(tmp_path):
  metrics = tmp_path / 'metrics.jsonl'
  metrics.write_text(''.join(json.dumps(r) + '\n' for r in _records(
      [0.5, 0.3], final={'eval_rmse_lambda': 0.3})))
  results.store_run(metrics, tmp_path / 'out', INFO._replace(depth=1, size=5))
  proc = subprocess.run(
      [sys.executable, 'scripts/reproduce_predictron.py', '--models=rgl', '--depths=1',
       '--seeds=0', '--consistency=0', '--size=5', '--skip_existing',
       f'--runs={tmp_path}/runs', f'--out={tmp_path}/out'],
      capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'maze-rgl-k1-seed0: stored already, skipped' in proc.stdout
  assert not (tmp_path / 'runs').exists()   # nothing trained
