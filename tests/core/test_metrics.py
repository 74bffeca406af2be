"""Tests for core.metrics: the JSONL log, TensorBoard output and console progress."""

import glob
import json
import math
import os

import jax.numpy as jnp
import numpy as np
import pytest

from core import metrics


def _lines(path):
  with open(path, encoding='utf-8') as f:
    return f.read().splitlines()


class FakeClock:
  """A settable stand-in for time.monotonic."""

  def __init__(self, now=0.0):
    self.now = now

  def __call__(self):
    return self.now


class TestMetricsWriter:

  def test_round_trip_converts_scalars(self, tmp_path):
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      writer.write(10, {
          'py_float': 1.5,
          'py_int': 7,
          'np_float32': np.float32(0.25),
          'np_int64': np.int64(3),
          'jax_float': jnp.float32(2.5),
          'jax_int': jnp.asarray(4, jnp.int32),
          'jax_bool': jnp.asarray(True),
      })
    [record] = metrics.read_metrics(tmp_path / 'metrics.jsonl')
    assert record['step'] == 10
    assert isinstance(record['time'], float)
    assert record['py_float'] == 1.5 and isinstance(record['py_float'], float)
    assert record['py_int'] == 7 and isinstance(record['py_int'], int)
    assert record['np_float32'] == 0.25
    assert record['np_int64'] == 3 and isinstance(record['np_int64'], int)
    assert record['jax_float'] == 2.5
    assert record['jax_int'] == 4
    assert record['jax_bool'] == 1

  def test_non_finite_values_are_json_null(self, tmp_path):
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      writer.write(1, {'nan': float('nan'), 'inf': np.float32(np.inf),
                       'jax_nan': jnp.float32(jnp.nan), 'ok': 1.0})
    [line] = _lines(tmp_path / 'metrics.jsonl')
    raw = json.loads(line)  # Strict JSON: no NaN/Infinity tokens.
    assert raw['nan'] is None and raw['inf'] is None and raw['jax_nan'] is None
    assert 'NaN' not in line and 'Infinity' not in line
    [record] = metrics.read_metrics(tmp_path / 'metrics.jsonl')
    assert math.isnan(record['nan']) and math.isnan(record['inf'])
    assert record['ok'] == 1.0

  def test_each_line_is_flushed_before_close(self, tmp_path):
    writer = metrics.MetricsWriter(tmp_path, tensorboard=False)
    writer.write(1, {'a': 1.0})
    writer.write(2, {'a': 2.0})
    # Read while the writer is still open, as a killed run would leave it.
    assert [r['step'] for r in metrics.read_metrics(writer.path)] == [1, 2]
    writer.close()
    writer.close()  # Idempotent.

  def test_truncated_last_line_is_skipped(self, tmp_path):
    path = tmp_path / 'metrics.jsonl'
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      writer.write(1, {'a': 1.0})
      writer.write(2, {'a': 2.0})
    with open(path, 'a', encoding='utf-8') as f:
      f.write('{"step": 3, "time": 17000')  # A kill in the middle of a write.
    assert [r['step'] for r in metrics.read_metrics(path)] == [1, 2]

  def test_corrupt_middle_line_raises(self, tmp_path):
    path = tmp_path / 'metrics.jsonl'
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(ValueError, match=r'metrics.jsonl:2'):
      metrics.read_metrics(path)

  def test_reopen_appends_and_drops_partial_line(self, tmp_path):
    path = tmp_path / 'metrics.jsonl'
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      writer.write(1, {'a': 1.0})
      writer.write(2, {'a': 2.0})
    with open(path, 'a', encoding='utf-8') as f:
      f.write('{"step": 3, "a"')
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      writer.write(3, {'a': 3.0})
    assert [r['step'] for r in metrics.read_metrics(path)] == [1, 2, 3]
    # Every line is valid JSON again: the fragment was cut, not left mid-file.
    assert [json.loads(line)['step'] for line in _lines(path)] == [1, 2, 3]

  def test_resume_drops_records_after_the_restored_step(self, tmp_path):
    """A run killed after logging past its checkpoint logs those steps again on resume."""
    path = tmp_path / 'metrics.jsonl'
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      for step in (50, 100, 150):
        writer.write(step, {'a': float(step)})
    with metrics.MetricsWriter(tmp_path, tensorboard=False, resume_step=100) as writer:
      writer.write(150, {'a': -1.0})
      writer.write(200, {'a': 2.0})
    records = metrics.read_metrics(path)
    assert [r['step'] for r in records] == [50, 100, 150, 200]
    assert records[2]['a'] == -1.0  # the resumed run's record, not the killed run's

  def test_reopen_of_single_partial_line_empties_file(self, tmp_path):
    path = tmp_path / 'metrics.jsonl'
    path.write_text('{"step": 1, "a"')
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      writer.write(5, {'a': 1.0})
    assert [json.loads(line)['step'] for line in _lines(path)] == [5]

  def test_tensorboard_event_file_is_written(self, tmp_path):
    with metrics.MetricsWriter(tmp_path) as writer:
      writer.write(1, {'episode_return': 3.0, 'loss': float('nan')})
      writer.write(2, {'episode_return': 4.0})
    [event_file] = glob.glob(str(tmp_path / 'tensorboard' / 'events.out.tfevents.*'))
    with open(event_file, 'rb') as f:
      content = f.read()
    assert b'episode_return' in content and b'loss' in content

  def test_no_tensorboard_directory_when_disabled(self, tmp_path):
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      writer.write(1, {'a': 1.0})
    assert not os.path.exists(tmp_path / 'tensorboard')

  @pytest.mark.parametrize('value', [np.zeros(3), np.array([6.0]), 'high', None, [1.0]])
  def test_rejects_non_scalars(self, tmp_path, value):
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      with pytest.raises(TypeError, match="metric 'bad'"):
        writer.write(1, {'bad': value})

  def test_rejects_reserved_names(self, tmp_path):
    with metrics.MetricsWriter(tmp_path, tensorboard=False) as writer:
      with pytest.raises(ValueError, match='reserved'):
        writer.write(1, {'time': 1.0})

  def test_write_after_close_raises(self, tmp_path):
    writer = metrics.MetricsWriter(tmp_path, tensorboard=False)
    writer.close()
    with pytest.raises(ValueError, match='closed'):
      writer.write(1, {'a': 1.0})


class TestProgress:

  def _progress(self, total=1_000_000, **kwargs):
    lines, clock = [], FakeClock()
    progress = metrics.Progress(
        total, print_fn=lines.append, min_interval_s=10.0, clock=clock, **kwargs)
    return progress, lines, clock

  def test_line_format_rate_and_eta(self):
    progress, lines, clock = self._progress()
    clock.now = 10.0
    assert progress.update(123_456, **{'return': 123.4})
    # 123,456 frames in 10 s; 876,544 left at 12,345.6 frames/s is 71 s.
    assert lines == [
        '[  12.3%] frames 123,456/1,000,000 | 12,346 frames/s | return 123.4 | '
        'elapsed 0:00:10 | left 0:01:11'
    ]

  def test_rate_since_previous_line_eta_since_start(self):
    progress, lines, clock = self._progress()
    clock.now = 10.0
    progress.update(100_000)
    clock.now = 20.0
    progress.update(400_000, loss=0.01234567)
    # Rate over the last 10 s: 300,000 / 10. Mean rate 20,000/s; 600,000 left: 30 s.
    assert lines[-1] == (
        '[  40.0%] frames 400,000/1,000,000 | 30,000 frames/s | loss 0.01235 | '
        'elapsed 0:00:20 | left 0:00:30')

  def test_prints_at_most_every_min_interval(self):
    progress, lines, clock = self._progress()
    clock.now = 9.9
    assert not progress.update(1_000)
    clock.now = 10.0
    assert progress.update(2_000)
    clock.now = 19.0
    assert not progress.update(3_000)
    assert len(lines) == 1

  def test_resumed_run_counts_only_its_own_steps(self):
    progress, lines, clock = self._progress(initial_step=900_000, unit='updates')
    clock.now = 10.0
    progress.update(950_000)
    # 50,000 updates in this process over 10 s, not 950,000.
    assert lines == [
        '[  95.0%] updates 950,000/1,000,000 | 5,000 updates/s | '
        'elapsed 0:00:10 | left 0:00:10'
    ]

  def test_final_step_prints_immediately_and_done_summarises(self):
    progress, lines, clock = self._progress(total=1_000)
    clock.now = 1.0
    assert progress.update(1_000)
    assert lines[-1].endswith('left 0:00:00')
    assert lines[-1].startswith('[ 100.0%] frames 1,000/1,000 | 1,000 frames/s')
    clock.now = 2.0
    progress.done(**{'return': 21})
    assert lines[-1] == (
        '[   done] frames 1,000/1,000 | 500 frames/s mean | return 21 | '
        'elapsed 0:00:02')

  def test_eta_unknown_before_any_progress(self):
    progress, lines, clock = self._progress()
    clock.now = 3600.0 * 25
    progress.update(0)
    assert lines[-1].endswith('| 0 frames/s | elapsed 25:00:00 | left ?')

  @pytest.mark.parametrize('value, text', [
      (123.4, '123.4'), (12345.6, '12,346'), (0.5, '0.5'), (1.5e-5, '1.50e-05'),
      (0.0, '0'), (-2.25, '-2.25'), (float('nan'), 'nan'), (7, '7'),
      (1234567, '1,234,567'), (np.float32(3.0), '3'), (jnp.float32(0.125), '0.125'),
      (True, 'True'),
  ])
  def test_compact_number_format(self, value, text):
    progress, lines, clock = self._progress()
    clock.now = 10.0
    progress.update(1, x=value)
    assert f'| x {text} |' in lines[-1]

  def test_rejects_non_positive_total(self):
    with pytest.raises(ValueError, match='total_steps'):
      metrics.Progress(0)
