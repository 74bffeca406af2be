"""experiments/impala_results.py: window means, "met at end", the table and its regeneration."""

import gzip
import json
import math
import pathlib

import pytest

from core import metrics as metrics_lib
from experiments import impala_results as results

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMITTED = ROOT / 'results' / 'impala'


def _episodes(*intervals, fps=1000.0):
  """Log records at frames 100, 200, ...: (mean return, games) per interval."""
  return [{'step': i + 1, 'time': 0.0, 'frames': 100 * (i + 1), 'env_fps': fps,
           'episode_return': ret, 'episodes': games}
          for i, (ret, games) in enumerate(intervals)]


def _write_jsonl_gz(path, lines):
  path.parent.mkdir(parents=True, exist_ok=True)
  with gzip.open(path, 'wt', encoding='utf-8') as f:
    f.write(''.join(line + '\n' for line in lines))


def _write_run(results_dir, name, info, records):
  run_dir = results_dir / 'runs' / name
  _write_jsonl_gz(run_dir / 'metrics.jsonl.gz', [json.dumps(r) for r in records])
  (run_dir / 'run.json').write_text(json.dumps(info))
  return run_dir


def test_window_mean_pools_the_newest_intervals_by_game_count():
  means = results.last_games_means(_episodes((-21.0, 15), (-11.0, 10), (19.0, 12), (20.0, 20)))
  assert [w.frames for w in means] == [200, 300, 400]  # the first interval holds < 20 games
  assert means[0].mean == pytest.approx((-21 * 15 - 11 * 10) / 25) and means[0].games == 25
  assert means[1].mean == pytest.approx((-11 * 10 + 19 * 12) / 22) and means[1].games == 22
  assert means[2] == (400, 20.0, 20)


def test_records_without_games_add_nothing():
  records = _episodes((-20.0, 20), (0.0, 20))
  records.insert(1, {'step': 9, 'frames': 150, 'env_fps': 1000.0})  # an interval with no game
  assert [w.frames for w in results.last_games_means(records)] == [100, 200]


def test_target_first_reached_and_met_at_the_end():
  summary = results.summarise_run(_episodes((-20.0, 20), (17.0, 20), (18.5, 20), (19.0, 20)),
                                  target=18.0)
  assert summary.frames_to_target == 300 and summary.met is True
  assert summary.final_return == 19.0 and summary.final_games == 20
  assert summary.best_return == 19.0 and summary.frames == 400


def test_touching_the_target_and_dropping_below_is_not_met():
  summary = results.summarise_run(_episodes((-20.0, 20), (17.0, 20), (18.5, 20), (17.0, 20)),
                                  target=18.0)
  assert summary.frames_to_target == 300  # the noisy window touched +18 ...
  assert summary.met is False              # ... but the final one is below it
  assert summary.final_return == 17 and summary.best_return == 18.5
  line = results.render_row(results.Row('x', results.RunInfo('pong', 'paper', 0, 400, 18.0),
                                        summary))
  assert line == ('| pong | paper | 0 | 400 | 17.0 (20) | 18.5 | 300 (≥ +18) | no (≥ +18) | — '
                  '| 1,000 | 20.40 (shallow) |')


def test_a_target_without_any_full_window_is_not_met():
  summary = results.summarise_run(_episodes((20.0, 5)), target=18.0)
  assert summary.final_return is None and summary.met is False
  assert summary.frames_to_target is None and summary.final_games == 0


def test_a_game_without_a_target_shows_dashes_and_never_reached():
  records = _episodes((1.0, 20), (30.0, 20))
  summary = results.summarise_run(records, target=None)
  assert summary.target is None and summary.met is None and summary.frames_to_target is None
  info = results.RunInfo('breakout', 'replay,adam', 0, 200, None)
  line = results.render_row(results.Row('breakout-replay-adam', info, summary))
  assert line == ('| breakout | replay,adam | 0 | 200 | 30.0 (20) | 30.0 | — | — | — | 1,000 '
                  '| 640.43 (shallow) |')
  assert 'reached' not in line and 'yes' not in line


def test_paper_score_follows_the_net():
  assert results.paper_score('pong', 'paper') == ('shallow', 20.40)
  assert results.paper_score('pong', 'deep,replay') == ('deep', 20.98)
  assert results.paper_score('breakout', 'deep') == ('deep', 787.34)
  assert results.paper_score('seaquest', 'paper') is None


def test_records_a_resume_superseded_are_dropped():
  first = _episodes((-20.0, 20), (-10.0, 20), (0.0, 20))  # cut off after frames 300
  again = _episodes((-20.0, 20), (-15.0, 20), (-5.0, 20))[1:]  # resumed from frames 100
  kept = results.drop_superseded(first + again)
  assert [(r['frames'], r['episode_return']) for r in kept] == [
      (100, -20.0), (200, -15.0), (300, -5.0)]
  assert results.summarise_run(first + again, target=None).final_return == -5.0


def test_env_fps_is_the_mean_of_the_newest_finite_records():
  records = _episodes(*[(0.0, 20)] * 12)
  for i, record in enumerate(records):
    record['env_fps'] = float(i)
  records[-1]['env_fps'] = math.nan  # JSON null
  # The newest 10 records are 2..11; 11 is nan.
  assert results.summarise_run(records, target=None).env_fps == pytest.approx(sum(range(2, 11)) / 9)


def test_gzip_reading_parses_as_core_metrics(tmp_path):
  lines = [json.dumps({'step': 1, 'time': 0.5, 'frames': 10, 'loss': None}),
           '', json.dumps({'step': 2, 'time': 1.0, 'frames': 20, 'loss': 0.25}),
           '{"step": 3, "ti']  # a killed run's half-written last line
  (tmp_path / 'metrics.jsonl').write_text('\n'.join(lines))
  _write_jsonl_gz(tmp_path / 'metrics.jsonl.gz', ['\n'.join(lines)])
  plain = metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')
  packed = results.read_metrics(tmp_path / 'metrics.jsonl.gz')
  assert len(packed) == 2 and math.isnan(packed[0]['loss'])
  assert json.dumps(packed) == json.dumps(plain)
  _write_jsonl_gz(tmp_path / 'bad.jsonl.gz', ['{"step": 1', '{"step": 2}'])
  with pytest.raises(ValueError, match='bad.jsonl.gz:1'):
    results.read_metrics(tmp_path / 'bad.jsonl.gz')


def test_store_run_round_trips_with_deterministic_bytes(tmp_path):
  workdir = tmp_path / 'work'
  workdir.mkdir()
  raw = ''.join(json.dumps(r) + '\n' for r in _episodes((1.0, 20), (2.0, 20)))
  (workdir / 'metrics.jsonl').write_text(raw)
  info = results.RunInfo('breakout', 'paper', 0, 200, None,
                         results.final_eval_from_returns([1.0, 3.0, math.nan]))
  assert info.final_eval == (2.0, 1.0, 2)
  run_dir = results.store_run(workdir / 'metrics.jsonl', tmp_path / 'out', 'breakout', info)
  first = (run_dir / 'metrics.jsonl.gz').read_bytes()
  assert gzip.decompress(first).decode() == raw
  run = results.load_run(run_dir)
  assert run.name == 'breakout' and run.info == info
  assert run.records == metrics_lib.read_metrics(workdir / 'metrics.jsonl')
  assert json.loads((run_dir / 'run.json').read_text())['target'] is None
  results.store_run(workdir / 'metrics.jsonl', tmp_path / 'out', 'breakout', info)
  assert (run_dir / 'metrics.jsonl.gz').read_bytes() == first



def test_plot_run_draws_the_committed_metrics(tmp_path):
  run_dir = _write_run(tmp_path, 'pong', {}, _episodes((1.0, 20), (2.0, 20)))
  paths = results.plot_run(run_dir)  # no entropy in this log: only what it has
  assert [pathlib.Path(p).name for p in paths] == ['episode_return.png', 'env_fps.png']
  assert all(pathlib.Path(p).parent == run_dir for p in paths)

def test_run_name_holds_the_game_variants_and_seed():
  assert results.run_name('pong', '', 0) == 'pong-seed0'
  assert results.run_name('pong', 'replay,adam', 2) == 'pong-replay-adam-seed2'


EXPECTED_TABLE = """\
| game | variants | seed | frames trained | final mean (games) | best mean | first ≥ target (frames) | met at end | final policy (full games) | env frames/s | paper (200M frames) |
|---|---|---|---|---|---|---|---|---|---|---|
| breakout | paper | 0 | 300 | 2.5 (40) | 2.5 | — | — | — | 500 | 640.43 (shallow) |
| pong | replay,adam | 1 | 400 | 18.0 (37) | 19.0 | 300 (≥ +18) | yes (≥ +18) | 19.5 ± 1.5 (n=30) | 2,500 | 20.40 (shallow) |
"""


def test_regenerate_two_runs(tmp_path):
  pong = _episodes((-20.0, 20), (17.0, 10), (19.0, 25), (16.0, 12))
  for record, fps in zip(pong, [1000.0, 2000.0, 3000.0, 4000.0]):
    record['env_fps'] = fps
  # Windows: -20 (20 games); (170 - 400) / 30; 19 (25); (192 + 475) / 37 = 18.03 at the end.
  _write_run(tmp_path, 'pong-replay-adam-seed1',
             {'game': 'pong', 'variants': 'replay,adam', 'seed': 1, 'frame_budget': 400,
              'target': 18.0, 'final_eval': {'mean': 19.5, 'std': 1.5, 'n': 30}}, pong)
  breakout = [{'step': 1, 'frames': 150, 'env_fps': 500.0, 'episode_return': 2.0, 'episodes': 30},
              {'step': 2, 'frames': 300, 'env_fps': None, 'episode_return': 4.0, 'episodes': 10}]
  # Windows: 2 (30 games); (40 + 60) / 40 = 2.5 at the end. env_fps: null is skipped.
  _write_run(tmp_path, 'breakout',
             {'game': 'breakout', 'variants': 'paper', 'seed': 0, 'frame_budget': 300,
              'target': None}, breakout)
  (tmp_path / 'runs' / 'not-a-run').mkdir()  # no run.json: skipped

  readme = results.regenerate(tmp_path)
  assert readme.endswith(EXPECTED_TABLE)
  assert (tmp_path / 'README.md').read_text() == readme
  assert '- `runs/breakout/`\n- `runs/pong-replay-adam-seed1/`' in readme
  assert results.REGENERATE_COMMAND in readme
  summary = json.loads((tmp_path / 'summary.json').read_text())
  assert [s['name'] for s in summary] == ['breakout', 'pong-replay-adam-seed1']
  assert summary[0]['target'] is None and summary[0]['met'] is None
  assert summary[1]['met'] is True and summary[1]['frames_to_target'] == 300
  assert summary[1]['final_return'] == pytest.approx((192 + 475) / 37)
  assert summary[1]['final_eval'] == {'mean': 19.5, 'std': 1.5, 'n': 30}
  assert results.regenerate(tmp_path) == readme  # regenerating is idempotent


def test_regenerate_without_runs_has_an_empty_table(tmp_path):
  readme = results.regenerate(tmp_path)
  assert readme.endswith(results.render_table([]) + '\n')
  assert 'none yet' in readme
  assert json.loads((tmp_path / 'summary.json').read_text()) == []


def test_committed_results_are_what_their_raw_data_regenerates():
  """results/impala/README.md and summary.json, byte for byte, from results/impala/runs/.

  Also with no run committed yet: the README is then the generated one with an empty table.
  """
  outputs = results.render_outputs(COMMITTED)
  assert (COMMITTED / 'README.md').read_text(encoding='utf-8') == outputs.readme
  assert (COMMITTED / 'summary.json').read_text(encoding='utf-8') == outputs.summary_json
