"""Tests for core.plots and scripts/plot.py."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from core import metrics
from core import plots

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _is_png(path):
  with open(path, 'rb') as f:
    return f.read(8) == _PNG_SIGNATURE


@pytest.fixture
def workdir(tmp_path):
  with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
    for i in range(20):
      writer.write(i * 10, {'return': float(i), 'loss/policy': 1.0 / (i + 1),
                            'frames': i * 400})
    writer.write(200, {'return': float('nan')})  # A diverged value is skipped.
  return tmp_path


def test_one_png_per_numeric_metric(workdir):
  paths = plots.plot_metrics(workdir / 'metrics.jsonl', workdir / 'plots')
  names = [os.path.basename(p) for p in paths]
  assert names == ['return.png', 'loss_policy.png', 'frames.png']
  assert all(_is_png(p) and os.path.getsize(p) > 1000 for p in paths)


def test_selected_keys_and_x_axis(workdir):
  paths = plots.plot_metrics(workdir / 'metrics.jsonl', workdir / 'out',
                             x='frames', keys=['return'])
  assert paths == [str(workdir / 'out' / 'return.png')]
  assert _is_png(paths[0])


def test_no_records_raises(tmp_path):
  (tmp_path / 'metrics.jsonl').write_text('')
  with pytest.raises(ValueError, match='no metric records'):
    plots.plot_metrics(tmp_path / 'metrics.jsonl', tmp_path)


def test_missing_key_raises_and_lists_fields(workdir):
  with pytest.raises(ValueError, match=r"'retrun' not in .*fields: step, time, return"):
    plots.plot_metrics(workdir / 'metrics.jsonl', workdir, keys=['retrun'])


def test_missing_x_raises(workdir):
  with pytest.raises(ValueError, match="x-axis field 'episodes'"):
    plots.plot_metrics(workdir / 'metrics.jsonl', workdir, x='episodes')


def test_metric_without_finite_values_raises(tmp_path):
  with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
    writer.write(1, {'loss': float('nan')})
  with pytest.raises(ValueError, match="'loss' has no finite values"):
    plots.plot_metrics(tmp_path / 'metrics.jsonl', tmp_path, keys=['loss'])


def test_resumed_steps_keep_the_later_record():
  records = [{'step': 1, 'a': 1.0}, {'step': 2, 'a': 2.0}, {'step': 3, 'a': 3.0},
             {'step': 2, 'a': 20.0}, {'step': 3, 'a': 30.0}, {'step': 4, 'a': math.nan}]
  xs, ys = plots._series(records, 'step', 'a')
  np.testing.assert_array_equal(xs, [1, 2, 3])
  np.testing.assert_array_equal(ys, [1.0, 20.0, 30.0])


def test_smoothing_is_debiased_and_optional():
  np.testing.assert_allclose(plots.smooth(np.full(5, 3.0), 0.9), np.full(5, 3.0))
  values = np.array([1.0, 5.0, -2.0])
  np.testing.assert_array_equal(plots.smooth(values, 0.0), values)
  # By hand: a1 = 0.5, a2 = 0.25 + 2.5 = 2.75; debiased 2.75 / 0.75.
  np.testing.assert_allclose(plots.smooth(values[:2], 0.5), [1.0, 2.75 / 0.75])
  with pytest.raises(ValueError, match='smoothing'):
    plots.smooth(values, 1.0)


def _run_script(*args):
  return subprocess.run(
      [sys.executable, os.path.join('scripts', 'plot.py'), *args], cwd=_REPO_ROOT,
      capture_output=True, text=True, timeout=120, check=False)


def test_script_writes_to_workdir_plots(workdir):
  result = _run_script(f'--workdir={workdir}', '--keys=return,loss/policy')
  assert result.returncode == 0, result.stderr
  expected = [str(workdir / 'plots' / 'return.png'),
              str(workdir / 'plots' / 'loss_policy.png')]
  assert result.stdout.split() == expected
  assert all(_is_png(p) for p in expected)


def test_script_reports_a_bad_key_in_one_line(workdir, tmp_path):
  result = _run_script(f'--workdir={workdir}', '--keys=nope', f'--out={tmp_path}')
  assert result.returncode == 1
  assert result.stderr.strip().startswith("plot.py: 'nope' not in")
  assert 'Traceback' not in result.stderr
