"""Window-by-window comparison of runs (results_store.frame_windows, compare_runs.py)."""

import json
import subprocess
import sys

from experiments import results_store


def _records():
  return [{'step': 1, 'frames': 100, 'episode_return': 2.0, 'episodes': 2},
          {'step': 2, 'frames': 200, 'episode_return': 5.0, 'episodes': 1},
          {'step': 3, 'frames': 300},
          {'step': 4, 'frames': 450, 'episode_return': -1.0, 'episodes': 4}]


def test_frame_windows_pool_the_episodes_of_each_window():
  windows = results_store.frame_windows(_records(), 200)
  assert [(w.start, w.end, w.episodes) for w in windows] == [(0, 200, 3), (200, 400, 0),
                                                             (400, 600, 4)]
  assert windows[0].mean == (2 * 2 + 5) / 3 and windows[1].mean is None
  assert windows[2].mean == -1.0


def test_script_prints_a_column_per_run(tmp_path):
  for name in ('a', 'b'):
    (tmp_path / name).mkdir()
    (tmp_path / name / 'metrics.jsonl').write_text(
        ''.join(json.dumps(r) + '\n' for r in _records()))
  proc = subprocess.run([sys.executable, 'scripts/compare_runs.py', '--window=200',
                         str(tmp_path / 'a' / 'metrics.jsonl'),
                         str(tmp_path / 'b' / 'metrics.jsonl')],
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert '| 0–200 | 3.00 (3) | 3.00 (3) |' in proc.stdout
  assert '| 200–400 | — | — |' in proc.stdout
