"""Tests for core.checkpoint: orbax round trips, retention, save policy, clear failures."""

import gc
import json
import logging
import os
import subprocess
import sys
import time
from typing import Any, NamedTuple

from absl import logging as absl_logging
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core import checkpoint


class OptState(NamedTuple):
  count: jax.Array
  mu: Any


class State(NamedTuple):
  key: jax.Array
  step: jax.Array
  params: Any
  opt_state: OptState
  done: jax.Array


def make_state(seed: int) -> State:
  """A state with every dtype a run checkpoints, filled from ``seed``."""
  key = jax.random.PRNGKey(seed)
  k1, k2 = jax.random.split(key)
  params = {'params': {
      'Dense_0': {'kernel': jax.random.normal(k1, (3, 4)),
                  'bias': jnp.full((4,), seed, jnp.float32)},
      'LSTMCell_0': {'hi': {'kernel': jax.random.normal(k2, (4, 4))}},
  }}
  return State(
      key=jax.random.fold_in(key, 7),
      step=jnp.asarray(100 * seed, jnp.int32),
      params=params,
      opt_state=OptState(count=jnp.asarray(seed, jnp.int32),
                         mu=jax.tree.map(lambda x: x * 0.5, params)),
      done=jnp.asarray([seed % 2 == 0, True, False]),
  )


def assert_same(restored, expected):
  assert jax.tree.structure(restored) == jax.tree.structure(expected)
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(expected)):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.fixture
def ckpt_dir(tmp_path):
  return tmp_path / 'checkpoints'


def test_round_trip_keeps_types_dtypes_and_values(ckpt_dir):
  state = make_state(1)
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    assert ckpt.save(10, state)
  # A fresh Checkpointer, as in a resumed process, with a template of other values.
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    restored = ckpt.restore(make_state(2))
  assert_same(restored, state)
  assert type(restored) is State and type(restored.opt_state) is OptState
  assert restored.key.dtype == jnp.uint32
  assert restored.step.dtype == jnp.int32 and restored.done.dtype == jnp.bool_
  assert isinstance(restored.params['params']['Dense_0']['kernel'], jax.Array)
  # The restored key draws the same numbers as the saved one.
  np.testing.assert_array_equal(jax.random.uniform(restored.key, (3,)),
                                jax.random.uniform(state.key, (3,)))


def test_restore_from_abstract_target(ckpt_dir):
  state = make_state(3)
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(1, state)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    assert_same(ckpt.restore(abstract), state)


def test_restore_casts_to_target_dtypes(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(1, {'w': jnp.asarray([0.5, 1.5], jnp.float32)})
    restored = ckpt.restore({'w': jnp.zeros(2, jnp.bfloat16)})
  assert restored['w'].dtype == jnp.bfloat16
  np.testing.assert_array_equal(restored['w'].astype(jnp.float32), [0.5, 1.5])


def test_typed_prng_keys_round_trip(ckpt_dir):
  state = {'key': jax.random.key(5), 'x': jnp.ones(2)}
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(1, state)
    restored = ckpt.restore({'key': jax.random.key(0), 'x': jnp.zeros(2)})
  np.testing.assert_array_equal(jax.random.key_data(restored['key']),
                                jax.random.key_data(state['key']))


def test_latest_step_and_explicit_step(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir, max_to_keep=3) as ckpt:
    assert ckpt.latest_step() is None
    ckpt.save(5, make_state(5))
    ckpt.save(8, make_state(8))
    assert ckpt.latest_step() == 8
    assert_same(ckpt.restore(make_state(0)), make_state(8))
    assert_same(ckpt.restore(make_state(0), step=5), make_state(5))


def test_max_to_keep_deletes_oldest(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir, max_to_keep=2) as ckpt:
    for step in (1, 2, 3):
      ckpt.save(step, make_state(step))
    assert ckpt.all_steps() == [2, 3]
  assert sorted(os.listdir(ckpt_dir)) == ['2', '3']
  with checkpoint.Checkpointer(ckpt_dir, max_to_keep=2) as ckpt:
    assert ckpt.all_steps() == [2, 3] and ckpt.latest_step() == 3


def test_save_killed_midway_is_not_counted(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(1200, make_state(1))
  # What a kill during orbax's write leaves: a temporary directory, never renamed.
  partial = ckpt_dir / '1300.orbax-checkpoint-tmp-1700000000'
  (partial / 'default').mkdir(parents=True)
  (partial / 'default' / '_METADATA').write_text('{"tree_meta')
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    assert ckpt.latest_step() == 1200
    assert_same(ckpt.restore(make_state(0)), make_state(1))
    ckpt.save(1300, make_state(2))
    assert ckpt.all_steps() == [1200, 1300]
  assert not partial.exists()


def test_saving_a_saved_step_is_a_no_op_unless_forced(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    assert ckpt.save(4, make_state(1))
    assert not ckpt.save(4, make_state(2))
    assert_same(ckpt.restore(make_state(0)), make_state(1))
    assert ckpt.save(4, make_state(2), force=True)
    assert_same(ckpt.restore(make_state(0)), make_state(2))
    with pytest.raises(ValueError, match='newer checkpoint'):
      ckpt.save(3, make_state(3))


def test_missing_checkpoints_raise_checkpoint_error(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    with pytest.raises(checkpoint.CheckpointError, match='no checkpoint in'):
      ckpt.restore(make_state(0))
    ckpt.save(2, make_state(2))
    with pytest.raises(checkpoint.CheckpointError,
                       match=r'no checkpoint step 7 .* \(available: 2\)'):
      ckpt.restore(make_state(0), step=7)


def _corrupt(step_dir, how):
  """Damages every file of a checkpoint step the way a bad disk or kill might."""
  for root, _, files in os.walk(step_dir):
    for name in files:
      path = os.path.join(root, name)
      data = open(path, 'rb').read()
      with open(path, 'wb') as f:
        if how == 'truncate':
          f.write(data[:len(data) // 2])
        elif how == 'garbage':
          f.write(b'\x00garbage\xff' * 3)


def _truncate_array_data(step_dir):
  """Cuts the array data files only: the metadata still parses, reads start, then fail."""
  for root, _, files in os.walk(step_dir):
    if os.path.basename(root) == 'd':
      for name in files:
        with open(os.path.join(root, name), 'r+b') as f:
          f.truncate(4)


@pytest.mark.parametrize('how', ['truncate', 'empty', 'garbage'])
def test_corrupt_latest_step_raises_checkpoint_error(ckpt_dir, how):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(1200, make_state(1))
    ckpt.save(1300, make_state(2))
  _corrupt(ckpt_dir / '1300', how)
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    with pytest.raises(checkpoint.CheckpointError) as error:
      ckpt.restore(make_state(0))
    message = str(error.value)
    assert 'checkpoint step 1300' in message and 'corrupt' in message
    assert str(ckpt_dir) in message and '--workdir' in message
    assert '\n' not in message and len(message) < 600
    assert error.value.__cause__ is not None
    # The older checkpoint is untouched and still restores.
    assert_same(ckpt.restore(make_state(0), step=1200), make_state(1))


def test_data_files_truncated_raises_checkpoint_error(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(5, make_state(1))
  _truncate_array_data(ckpt_dir / '5')
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    with pytest.raises(checkpoint.CheckpointError, match='step 5 .* corrupt'):
      ckpt.restore(make_state(0))


def test_deleted_item_directory_raises_checkpoint_error(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(5, make_state(1))
  for root, dirs, files in os.walk(ckpt_dir / '5', topdown=False):
    for name in files:
      os.remove(os.path.join(root, name))
    for name in dirs:
      os.rmdir(os.path.join(root, name))
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    with pytest.raises(checkpoint.CheckpointError, match='step 5 .* corrupt'):
      ckpt.restore(make_state(0))


def test_structure_mismatch_names_the_differences(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(3, make_state(1))
    target = make_state(0)
    params = {'params': {
        'Dense_0': {'kernel': jnp.zeros((3, 5))},  # Wider, and no bias.
        'LSTMCell_0': target.params['params']['LSTMCell_0'],
        'Dense_1': {'kernel': jnp.zeros((2, 2))},
    }}
    with pytest.raises(checkpoint.CheckpointError) as error:
      ckpt.restore(target._replace(params=params))
  message = str(error.value)
  assert 'checkpoint step 3' in message and 'does not match' in message
  assert 'missing from checkpoint: params.params.Dense_1.kernel' in message
  assert 'not in state: params.params.Dense_0.bias' in message
  assert 'params.params.Dense_0.kernel (3, 4) saved vs (3, 5) wanted' in message


def test_non_array_leaves_are_refused(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    with pytest.raises(TypeError, match="'lr' is a float"):
      ckpt.save(1, {'lr': 0.1, 'w': jnp.ones(2)})
    ckpt.save(1, {'lr': jnp.asarray(0.1), 'w': jnp.ones(2)})
    with pytest.raises(TypeError, match="'lr' is a float32"):
      ckpt.restore({'lr': np.float32(0.1), 'w': jnp.ones(2)})


def test_orbax_info_logs_are_filtered(ckpt_dir, caplog):
  verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)
  try:
    with caplog.at_level(logging.INFO):
      with checkpoint.Checkpointer(ckpt_dir) as ckpt:
        ckpt.save(1, make_state(1))
        ckpt.restore(make_state(0))
  finally:
    absl_logging.set_verbosity(verbosity)
  orbax_info = [r for r in caplog.records
                if '/orbax/' in r.pathname and r.levelno < logging.WARNING]
  assert not orbax_info
  # The filter is scoped: absl INFO from elsewhere still gets through afterwards.
  assert not logging.getLogger('absl').filters


_UNCAUGHT_RESTORE = """
import sys
from core import checkpoint
sys.path.insert(0, {tests_dir!r})
import test_checkpoint
checkpoint.Checkpointer({directory!r}).restore(test_checkpoint.make_state(0))
"""


def test_failed_restore_prints_only_our_error(ckpt_dir):
  """The reads orbax abandons must not bury the error under pages of tracebacks."""
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(7, make_state(1))
  _truncate_array_data(ckpt_dir / '7')
  code = _UNCAUGHT_RESTORE.format(
      tests_dir=os.path.dirname(__file__), directory=str(ckpt_dir))
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120, check=False)
  assert result.returncode == 1
  assert result.stderr.count('CheckpointError: checkpoint step 7') == 1
  # Our error is the last thing printed, and nothing but its traceback (with
  # orbax's cause) came before it.
  last_line = result.stderr.strip().splitlines()[-1]
  assert last_line.startswith('core.checkpoint.CheckpointError: checkpoint step 7')
  for noise in ('never retrieved', 'Exception ignored', 'Event loop is closed',
                'destroyed but it is pending'):
    assert noise not in result.stderr


def _many_arrays(seed: int, count: int = 24) -> dict:
  """Enough arrays, of random (incompressible) data, for reads to be in flight."""
  keys = jax.random.split(jax.random.PRNGKey(seed), count)
  return {f'w{i}': jax.random.normal(key, (128, 128)) for i, key in enumerate(keys)}


@pytest.mark.parametrize('how', ['data', 'garbage'])
def test_failed_restore_leaves_nothing_behind(ckpt_dir, monkeypatch, caplog, how):
  """No hook or log filter is left installed, and no abandoned read reports later."""
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(1, {'state': make_state(1), 'many': _many_arrays(1)})
  if how == 'data':
    _truncate_array_data(ckpt_dir / '1')
  else:
    _corrupt(ckpt_dir / '1', how)
  reports = []

  def record_unraisable(unraisable):
    reports.append(f'{unraisable.err_msg}: {unraisable.exc_value!r}')

  monkeypatch.setattr(sys, 'unraisablehook', record_unraisable)
  asyncio_filters = list(logging.getLogger('asyncio').filters)
  absl_filters = list(logging.getLogger('absl').filters)
  target = {'state': make_state(0), 'many': _many_arrays(0)}
  with caplog.at_level(logging.WARNING, logger='asyncio'):
    with checkpoint.Checkpointer(ckpt_dir) as ckpt:
      for _ in range(3):
        with pytest.raises(checkpoint.CheckpointError, match='step 1 .* corrupt'):
          ckpt.restore(target)
    # What was left in flight would report by now: calling back into orbax's closed
    # event loop, or when collected with its exception unread.
    time.sleep(0.2)
    gc.collect()
  assert sys.unraisablehook is record_unraisable
  assert logging.getLogger('asyncio').filters == asyncio_filters
  assert logging.getLogger('absl').filters == absl_filters
  assert not reports
  assert not [record.getMessage() for record in caplog.records
              if record.name == 'asyncio']


def test_unclosed_checkpointer_takes_its_log_filter_when_collected(ckpt_dir):
  ckpt = checkpoint.Checkpointer(ckpt_dir)
  assert logging.getLogger('absl').filters
  del ckpt
  gc.collect()
  assert not logging.getLogger('absl').filters


def test_maybe_save_waits_for_the_interval(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir, save_interval_s=3600) as ckpt:
    assert ckpt.maybe_save(1, make_state(1))  # No checkpoint yet: saves.
    assert not ckpt.maybe_save(2, make_state(2))
    assert not ckpt.maybe_save(1, make_state(1))  # Already the latest step.
    assert ckpt.all_steps() == [1]
    assert ckpt.save(3, make_state(3))  # ``save`` ignores the interval.
    assert not ckpt.maybe_save(4, make_state(4))
    with pytest.raises(ValueError, match='newer checkpoint'):
      ckpt.maybe_save(2, make_state(2))
    with pytest.raises(TypeError, match="'lr' is a float"):
      ckpt.maybe_save(5, {'lr': 0.1})
    assert ckpt.all_steps() == [1, 3]
    assert_same(ckpt.restore(make_state(0)), make_state(3))


def test_maybe_save_saves_once_the_interval_has_passed(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir, save_interval_s=1.0) as ckpt:
    assert ckpt.maybe_save(1, make_state(1))
    assert not ckpt.maybe_save(2, make_state(2))
    time.sleep(1.1)
    assert ckpt.maybe_save(3, make_state(3))
    assert not ckpt.maybe_save(4, make_state(4))
    assert ckpt.all_steps() == [1, 3]
    assert_same(ckpt.restore(make_state(0)), make_state(3))


def test_maybe_save_without_an_interval_saves_every_new_step(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir, max_to_keep=5) as ckpt:
    assert ckpt.maybe_save(1, make_state(1))
    assert ckpt.maybe_save(2, make_state(2))
    assert not ckpt.maybe_save(2, make_state(2))
    assert ckpt.all_steps() == [1, 2]


def test_resumed_maybe_save_measures_from_the_checkpoint_on_disk(ckpt_dir):
  with checkpoint.Checkpointer(ckpt_dir) as ckpt:
    ckpt.save(1, make_state(1))
  # A fresh process: orbax reads step 1's commit time, which is just now.
  with checkpoint.Checkpointer(ckpt_dir, save_interval_s=3600) as ckpt:
    assert not ckpt.maybe_save(2, make_state(2))
  # As if the run had been down for two hours since step 1 was committed.
  metadata_path = ckpt_dir / '1' / '_CHECKPOINT_METADATA'
  metadata = json.loads(metadata_path.read_text())
  metadata['commit_timestamp_nsecs'] -= 2 * 3600 * 10**9
  metadata_path.write_text(json.dumps(metadata))
  with checkpoint.Checkpointer(ckpt_dir, save_interval_s=3600) as ckpt:
    assert ckpt.maybe_save(2, make_state(2))
    assert not ckpt.maybe_save(3, make_state(3))
    assert ckpt.all_steps() == [1, 2]


def test_maybe_save_is_cheap_when_it_does_not_save(ckpt_dir):
  state = make_state(1)
  with checkpoint.Checkpointer(ckpt_dir, save_interval_s=3600) as ckpt:
    assert ckpt.maybe_save(0, state)
    start = time.perf_counter()
    for step in range(1, 201):
      assert not ckpt.maybe_save(step, state)
    per_call_s = (time.perf_counter() - start) / 200
  # About 0.1 ms measured; the bound only catches something like a read per call.
  assert per_call_s < 0.005


def test_bad_save_interval_is_refused(ckpt_dir):
  with pytest.raises(ValueError, match='save_interval_s'):
    checkpoint.Checkpointer(ckpt_dir, save_interval_s=-1)
