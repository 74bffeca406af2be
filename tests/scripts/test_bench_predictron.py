"""scripts/bench_predictron.py runs end to end on a tiny setup and writes its figures."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow  # ~20 s of compiling; the default suite is near its 10-minute budget
def test_writes_every_figure_with_its_spread(tmp_path):
  out = tmp_path / 'predictron.json'
  proc = subprocess.run(
      [sys.executable, 'scripts/bench_predictron.py', '--setups=maze:5:2', '--depth=1',
       '--maze_sizes=5', '--maze_batch=4', '--repeats=2', '--min_seconds=0.05',
       f'--out={out}'], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(out.read_text())
  train = report['train_samples_per_s']['maze:5:2']
  for figure in ('predictron', 'feedforward', 'predictron_over_feedforward'):
    assert len(train[figure]['samples']) == 2 and train[figure]['median'] > 0
  assert report['maze_generation_per_s']['5x5']['min'] > 0
