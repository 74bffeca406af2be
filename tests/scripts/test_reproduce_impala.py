"""The results table of scripts/reproduce_impala.py: the last-games mean and its target."""

import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def reproduce():
  spec = importlib.util.spec_from_file_location(
      'reproduce_impala', ROOT / 'scripts' / 'reproduce_impala.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _write_metrics(path, records):
  path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def test_last_games_mean_pools_the_newest_intervals_by_game_count(reproduce):
  episodes = [
      {'frames': 100, 'episode_return': -21.0, 'episodes': 15},
      {'frames': 200, 'episode_return': -11.0, 'episodes': 10},  # 25 games: (-315-110)/25
      {'frames': 300, 'episode_return': 19.0, 'episodes': 12},   # 22 games: (-110+228)/22
      {'frames': 400, 'episode_return': 20.0, 'episodes': 20},   # 20 games of +20
  ]
  means = reproduce._last_games_means(episodes)
  assert [f for f, _, _ in means] == [200, 300, 400]  # the first interval holds < 20 games
  assert means[0][1] == pytest.approx((-315 - 110) / 25)
  assert means[1][1] == pytest.approx((-110 + 228) / 22)
  assert means[2][1:] == (20.0, 20)


def test_summary_finds_the_first_frames_at_target(reproduce, tmp_path):
  records = [{'step': 1, 'frames': 10, 'env_fps': 1000.0}]
  records += [{'step': i + 2, 'frames': 100 * (i + 1), 'env_fps': 1000.0,
               'episode_return': ret, 'episodes': 20} for i, ret in enumerate([-20, 17, 18.5, 17])]
  _write_metrics(tmp_path / 'metrics.jsonl', records)
  summary = reproduce._summary(tmp_path, 'pong')
  assert summary['frames_to_target'] == 300
  assert summary['final_return'] == 17 and summary['best_last_games_return'] == 18.5
  assert reproduce._summary(tmp_path, 'breakout')['frames_to_target'] is None
  row = dict(summary, game='pong', variants='replay,adam', seed=1)
  table = '\n'.join(reproduce._table([row]))
  assert '| pong | replay,adam | 1 | 400 | 17.0 | 18.5 | 300 (≥ +18) |' in table
  assert '| 20.4 |' in table  # the paper's shallow-net score beside ours
