"""experiments/a3c_results.py: windows, time to the reference, seeds, the speed-up table, its
regeneration, and scripts/reproduce_a3c.py end to end on a smoke budget."""

import gzip
import json
import math
import pathlib
import subprocess
import sys

import pytest

from core import metrics as metrics_lib
from experiments import a3c_results as results
from experiments import results_store

ROOT = pathlib.Path(__file__).resolve().parents[2]
START = 1_000.0


def _records(*intervals, spacing=10.0, start=START, fps=1000.0):
  """Log records at frames 100, 200, ... and times start + spacing, + 2 spacing, ...:
  (mean return, episodes) per interval."""
  return [{'step': i + 1, 'time': start + spacing * (i + 1), 'frames': 100 * (i + 1),
           'env_fps': fps, 'episode_return': ret, 'episodes': episodes}
          for i, (ret, episodes) in enumerate(intervals)]


def _info(**kwargs):
  fields = dict(env='cartpole', algorithm='a3c', workers=1, seed=0, frame_budget=400,
                target=475.0, reference=200.0, train_start_unix=START)
  fields.update(kwargs)
  return results.RunInfo(**fields)


def _eval(mean, std=0.0, n=100):
  return results_store.FinalEval(mean, std, n)


def _row(name='x', records=None, **kwargs):
  info = _info(**kwargs)
  return results.Row(name, info, results.summarise_run(records or [], info))


def _write_run(results_dir, name, info, records):
  run_dir = results_dir / 'runs' / name
  run_dir.mkdir(parents=True)
  with gzip.open(run_dir / 'metrics.jsonl.gz', 'wt', encoding='utf-8') as f:
    f.write(''.join(json.dumps(r) + '\n' for r in records))
  (run_dir / 'run.json').write_text(json.dumps(results.info_to_json(info)))
  return run_dir


def test_window_mean_and_time_to_the_reference():
  records = _records((20.0, 15), (100.0, 10), (250.0, 10), (300.0, 20))
  summary = results.summarise_run(records, _info())
  # Windows: (300 + 1000) / 25 = 52 at 200; (1000 + 2500) / 20 = 175 at 300; 300 at 400.
  assert summary.final_train_mean == 300.0 and summary.final_train_episodes == 20
  assert summary.frames_to_reference == 400  # 175 at frames 300 is below 200
  assert summary.seconds_to_reference == pytest.approx(40.0)  # record time - start
  assert summary.frames == 400 and summary.resumed is None and summary.env_fps == 1000.0


def test_reference_never_reached():
  summary = results.summarise_run(_records((50.0, 20), (150.0, 20)), _info())
  assert summary.frames_to_reference is None and summary.seconds_to_reference is None
  row = results.Row('x', _info(), summary)
  cells = results.render_run_row(row)
  assert cells[11] == cells[12] == 'not reached (≥ 200)'


def test_solved_is_the_final_policy_against_the_target():
  assert results.summarise_run([], _info(final_eval=_eval(480.0))).solved is True
  assert results.summarise_run([], _info(final_eval=_eval(474.9))).solved is False
  assert results.summarise_run([], _info()).solved is None  # not evaluated
  assert results.summarise_run([], _info(target=None, final_eval=_eval(9.0))).solved is None


def test_greedy_is_the_greedy_eval_or_the_q_learners_final_eval():
  a3c = results.summarise_run([], _info(final_eval=_eval(460.0), greedy_eval=_eval(500.0)))
  assert a3c.solved is False and a3c.solved_greedy is True and a3c.greedy_mean == 500.0
  old_a3c = results.summarise_run([], _info(final_eval=_eval(480.0)))
  assert old_a3c.solved is True and old_a3c.solved_greedy is None  # not measured
  q = results.summarise_run([], _info(algorithm='q1', final_eval=_eval(480.0)))
  assert q.solved_greedy is True and q.greedy_mean == 480.0  # evaluated greedily anyway
  rows = [_row(f's{seed}', seed=seed, final_eval=_eval(470.0), greedy_eval=_eval(mean))
          for seed, mean in enumerate((500.0, 490.0, 300.0))]
  (setting,) = results.settings(rows)
  assert (setting.solved, setting.solved_greedy, setting.greedy_evaluated) == (0, 2, 3)
  rendered = results.render_setting_row(setting)
  assert '0/3 seeds' in rendered and '2/3 seeds' in rendered
  assert '500.0 ± 0.0 (n=100)' in results.render_run_row(rows[0])
  assert 'as final policy' in results.render_run_row(
      _row('q', algorithm='qn', final_eval=_eval(500.0)))


def test_a_null_target_and_reference_show_dashes():
  row = _row(records=_records((20.0, 20)), env='pong', target=None, reference=None,
             final_eval=_eval(-5.0, 2.0, 10))
  cells = results.render_run_row(row)
  assert cells[6] == '-5.0 ± 2.0 (n=10)'
  assert cells[7] == cells[9] == '— (no target)'
  assert cells[11] == cells[12] == '— (no reference)'
  assert 'yes' not in cells and 'no (≥' not in ' '.join(cells)
  setting = results.render_setting_row(results.settings([row])[0])
  assert setting[5] == '— (no target)' and setting[8] == '— (no reference)'
  assert results.speedups([row]) == []  # no reference: no speed-up row


def test_final_eval_from_the_last_record():
  record = {'eval_return': 500.0, 'eval_return_std': 0.0, 'eval_completed': 1.0}
  assert results.final_eval_from_record(record, 100) == (500.0, 0.0, 100)
  record = {'eval_return': 9.0, 'eval_return_std': 1.0, 'eval_completed': 0.5}
  assert results.final_eval_from_record(record, 10) == (9.0, 1.0, 5)
  assert results.final_eval_from_record({'eval_return': math.nan, 'eval_return_std': math.nan},
                                        10) is None
  assert results.final_eval_from_record({'frames': 5}, 10) is None
  record = {'eval_return': 470.0, 'eval_return_std': 9.0, 'eval_completed': 1.0,
            'eval_greedy_return': 500.0, 'eval_greedy_return_std': 0.0,
            'eval_greedy_completed': 1.0}
  assert results.final_eval_from_record(record, 100, prefix='eval_greedy') == (500.0, 0.0, 100)
  assert results.final_eval_from_record({'eval_return': 1.0, 'eval_return_std': 0.0}, 10,
                                        prefix='eval_greedy') is None


def test_a_resumed_run_is_flagged_and_not_timed():
  # A 300 s pause between the second and third records: a second session.
  records = _records((250.0, 20), (250.0, 20), (250.0, 20), (250.0, 20), (250.0, 20))
  for record in records[2:]:
    record['time'] += 300.0
  summary = results.summarise_run(records, _info())
  assert summary.resumed.startswith('a 310 s gap')
  assert summary.frames_to_reference == 100 and summary.seconds_to_reference is None
  # Without the pause, it is timed; the final evaluation's long last interval is no pause.
  records = _records(*[(250.0, 20)] * 5)
  records[-1]['time'] += 300.0
  records[-1]['eval_return'] = 500.0
  assert results.summarise_run(records, _info()).resumed is None
  # run.json says so; a record older than the start.
  assert results.summarise_run(_records((1.0, 20)), _info(resumed=True)).resumed
  assert results.summarise_run(_records((1.0, 20), start=START - 100), _info()).resumed


def test_censored_median():
  assert results.censored_median([]) is None
  assert results.censored_median([3.0, 1.0, math.inf]) == 3.0
  assert results.censored_median([1.0, math.inf, math.inf]) == math.inf
  assert results.censored_median([1.0, 3.0]) == 2.0
  assert results.censored_median([1.0, math.inf]) == math.inf


def _timed_row(workers, seed, seconds, algorithm='a3c', **kwargs):
  """A run that reached the reference ``seconds`` after its start (None: never)."""
  ret = 250.0 if seconds is not None else 50.0
  records = [{'step': 1, 'time': START + (seconds or 10.0), 'frames': 100,
              'episode_return': ret, 'episodes': 20}]
  return _row(f'{algorithm}-w{workers}-seed{seed}', records, algorithm=algorithm,
              workers=workers, seed=seed, **kwargs)


def test_speedup_medians_and_per_seed_ratios():
  rows = [_timed_row(1, 0, 100.0), _timed_row(1, 1, 120.0), _timed_row(1, 2, 300.0),
          _timed_row(2, 0, 50.0), _timed_row(2, 1, None), _timed_row(2, 2, 100.0)]
  table = {s.setting.workers: s for s in results.speedups(rows)}
  assert table[1].median_seconds == 120.0 and table[1].ratio_of_medians == 1.0
  assert table[1].paper == 1.0
  # 2 workers: 50, 100 and never: the median is 100; 120 / 100.
  assert table[2].median_seconds == 100.0
  assert table[2].ratio_of_medians == pytest.approx(1.2)
  # Seeds 0 and 2 reached with both: 100 / 50 = 2 and 300 / 100 = 3; median 2.5.
  assert table[2].seed_ratio_median == pytest.approx(2.5) and table[2].seed_ratio_count == 2
  assert table[2].paper == 2.1 and table[2].timed_seeds == [0, 1, 2]
  cells = results.render_speedup_row(table[2])
  assert cells[3:] == ['2', '0, 1, 2', '100', '1.20', '2.50 (2)', '2.1']


def test_a_resumed_run_is_left_out_of_the_speedup():
  resumed = _timed_row(2, 1, 60.0, resumed=True)
  rows = [_timed_row(1, 0, 100.0), _timed_row(1, 1, 100.0), _timed_row(2, 0, 50.0), resumed]
  table = {s.setting.workers: s for s in results.speedups(rows)}
  assert table[2].timed_seeds == [0] and table[2].untimed_seeds == [1]
  assert table[2].median_seconds == 50.0 and table[2].seed_ratio_count == 1
  assert 'not timed, left out: 1' in results.render_speedup_row(table[2])[4]
  assert results.render_run_row(resumed)[12] == '— (resumed)'


def test_no_one_worker_run_gives_no_ratio_and_unknown_algorithms_no_paper_figure():
  table = results.speedups([_timed_row(2, 0, 50.0, algorithm='a3c_lstm')])
  assert table[0].ratio_of_medians is None and table[0].paper is None
  assert results.paper_speedup('q1', 16) == 24.1 and results.paper_speedup('qn', 3) is None


def test_settings_count_solved_seeds():
  rows = [_row(f's{seed}', _records((250.0, 20)), seed=seed, final_eval=_eval(mean))
          for seed, mean in [(0, 500.0), (1, 300.0), (2, 420.0)]]
  rows.append(_row('w2', _records((250.0, 20)), workers=2, final_eval=_eval(480.0)))
  summaries = results.settings(rows)
  assert [s.setting.workers for s in summaries] == [1, 2]
  one = summaries[0]
  assert one.seeds == [0, 1, 2] and (one.solved, one.evaluated) == (1, 3)
  assert one.median_final_eval == 420.0 and (one.reached, one.timed) == (3, 3)
  cells = results.render_setting_row(one)
  assert cells[4:] == ['0, 1, 2', '1/3 seeds', '420.0', '— (not measured)',
                       '3/3 seeds (≥ 200)', '10']


def test_names():
  assert results.env_name('cartpole') == 'cartpole'
  assert results.env_name('game=pong') == 'pong'
  assert results.run_name('cartpole', 'q1', 2, 0) == 'cartpole-q1-w2-seed0'
  assert results.run_name('pong', 'a3c', 1, 3, 'threads,x') == 'pong-a3c-threads-x-w1-seed3'


def test_store_run_round_trips_with_deterministic_bytes(tmp_path):
  workdir = tmp_path / 'work'
  workdir.mkdir()
  raw = ''.join(json.dumps(r) + '\n' for r in _records((1.0, 20), (2.0, 20)))
  (workdir / 'metrics.jsonl').write_text(raw)
  info = _info(final_eval=_eval(9.5, 0.5, 100), variants='threads', cpus=2,
               greedy_eval=_eval(10.0, 0.0, 100))
  run_dir = results.store_run(workdir / 'metrics.jsonl', tmp_path / 'out', 'run', info)
  first = (run_dir / 'metrics.jsonl.gz').read_bytes()
  assert gzip.decompress(first).decode() == raw
  run = results.load_run(run_dir)
  assert run.name == 'run' and run.info == info
  assert run.records == metrics_lib.read_metrics(workdir / 'metrics.jsonl')
  results.store_run(workdir / 'metrics.jsonl', tmp_path / 'out', 'run', info)
  assert (run_dir / 'metrics.jsonl.gz').read_bytes() == first
  (run_dir / 'run.json').write_text(json.dumps({'env': 'cartpole'}))
  with pytest.raises(ValueError, match='missing algorithm'):
    results.load_run(run_dir)


def test_regenerate_two_runs(tmp_path):
  # 1 worker: the window reaches 200 at frames 300, 45 s after the start.
  one = _records((100.0, 20), (150.0, 20), (210.0, 20), (480.0, 20), spacing=15.0)
  one[-1].update(eval_return=500.0, eval_return_std=0.0, eval_completed=1.0)
  _write_run(tmp_path, 'cartpole-a3c-w1-seed0',
             _info(final_eval=_eval(500.0, 0.0, 100), cpus=2, load_before=0.25), one)
  # 2 workers: at frames 200, 20 s after the start: a speed-up of 45 / 20 = 2.25.
  two = _records((150.0, 20), (260.0, 20), (300.0, 20), (350.0, 20), spacing=10.0)
  _write_run(tmp_path, 'cartpole-a3c-w2-seed0',
             _info(workers=2, final_eval=_eval(400.0, 10.0, 100), cpus=2,
                   greedy_eval=_eval(500.0, 0.0, 100)), two)
  (tmp_path / 'runs' / 'not-a-run').mkdir()  # no run.json: skipped

  readme = results.regenerate(tmp_path)
  assert (tmp_path / 'README.md').read_text() == readme
  assert results.REGENERATE_COMMAND in readme
  lines = readme.splitlines()
  run_lines = [line for line in lines if line.startswith('| [cartpole-a3c-w')]
  assert run_lines == [
      '| [cartpole-a3c-w1-seed0](runs/cartpole-a3c-w1-seed0/) | cartpole | A3C | 1 | 0 | 400 '
      '| 500.0 ± 0.0 (n=100) | yes (≥ 475) | — (not measured) | — | 480.0 (20) '
      '| 300 (≥ 200) | 45 | 1,000 | 2 '
      '| 0.2 |',
      '| [cartpole-a3c-w2-seed0](runs/cartpole-a3c-w2-seed0/) | cartpole | A3C | 2 | 0 | 400 '
      '| 400.0 ± 10.0 (n=100) | no (≥ 475) | 500.0 ± 0.0 (n=100) | yes | 350.0 (20) '
      '| 200 (≥ 200) | 20 | 1,000 | 2 '
      '| — |']
  assert ('| cartpole | A3C | 1 | 400 | 0 | 1/1 seeds | 500.0 | — (not measured) '
          '| 1/1 seeds (≥ 200) | 45 |' in lines)
  assert ('| cartpole | A3C | 2 | 400 | 0 | 0/1 seeds | 400.0 | 1/1 seeds '
          '| 1/1 seeds (≥ 200) | 20 |' in lines)
  assert '| cartpole | A3C | 400 | 2 | 0 | 20 | 2.25 | 2.25 (1) | 2.1 |' in lines
  assert '| A3C | 1.0 | 2.1 | 3.7 | 6.9 | 12.5 |' in lines
  assert 'Ours: cartpole' in readme and 'on 16-core machines' in readme
  summary = json.loads((tmp_path / 'summary.json').read_text())
  assert [s['name'] for s in summary] == ['cartpole-a3c-w1-seed0', 'cartpole-a3c-w2-seed0']
  assert summary[0]['solved'] is True and summary[0]['seconds_to_reference'] == 45.0
  assert summary[1]['final_eval'] == {'mean': 400.0, 'std': 10.0, 'n': 100}
  assert summary[1]['frames_to_reference'] == 200 and summary[1]['resumed'] is None
  assert results.regenerate(tmp_path) == readme  # regenerating is idempotent


def test_regenerate_without_runs(tmp_path):
  readme = results.regenerate(tmp_path)
  assert 'None yet' in readme and '| one-step Q | 1.0 | 3.0 |' in readme
  assert json.loads((tmp_path / 'summary.json').read_text()) == []


def test_reproduce_script_smoke(tmp_path):
  """scripts/reproduce_a3c.py trains one smoke run, stores it and writes the tables."""
  out, runs = tmp_path / 'out', tmp_path / 'runs'
  command = [sys.executable, str(ROOT / 'scripts' / 'reproduce_a3c.py'), '--algorithms=a3c',
             '--workers=1', '--seeds=0', '--frames=200', '--variants=smoke,threads',
             f'--runs={runs}', f'--out={out}']
  proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
  assert proc.returncode == 0, proc.stderr[-3000:]
  name = 'cartpole-a3c-smoke-threads-w1-seed0'
  run_dir = out / 'runs' / name
  run = results.load_run(run_dir)
  assert run.info.algorithm == 'a3c' and run.info.workers == 1 and run.info.seed == 0
  assert run.info.frame_budget == 200 and run.info.target == 475.0
  assert run.info.reference == 200.0 and not run.info.resumed
  assert run.info.final_eval is not None and run.info.final_eval.n == 2  # smoke: 2 episodes
  assert run.info.greedy_eval is not None and run.info.greedy_eval.n == 2  # A3C's argmax
  assert run.records[-1]['frames'] == 200
  assert run.records[0]['time'] > run.info.train_start_unix
  assert (run_dir / 'episode_return.png').is_file()
  readme = (out / 'README.md').read_text()
  assert f'[{name}](runs/{name}/)' in readme and readme in proc.stdout
  assert (runs / name / 'metrics.jsonl').is_file()
