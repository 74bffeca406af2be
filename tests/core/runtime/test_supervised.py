"""The supervised runtime: learning from a data source, exact resume, one device vs two."""

import textwrap

import chex
import jax
import numpy as np
import pytest

from configs import memory_tasks
from core import checkpoint as checkpoint_lib
from core import metrics as metrics_lib
from experiments import experiment
from experiments import supervised


def _updates(runtime, state, calls):
  for _ in range(calls):
    state, metrics = runtime.update(state)
  return state, jax.device_get(metrics)


def test_resume_from_a_checkpoint_is_deterministic(tmp_path):
  config = memory_tasks.get_config('smoke')
  runtime = supervised.build(config)
  whole, _ = _updates(runtime, runtime.init(jax.random.PRNGKey(0)), 4)
  half, _ = _updates(runtime, runtime.init(jax.random.PRNGKey(0)), 2)
  with checkpoint_lib.Checkpointer(tmp_path) as ckpt:
    ckpt.save(int(half.learner.update), half)
  fresh = supervised.build(config)
  with checkpoint_lib.Checkpointer(tmp_path) as ckpt:
    restored = ckpt.restore(fresh.init(jax.random.PRNGKey(5)))
  resumed, _ = _updates(fresh, restored, 2)
  chex.assert_trees_all_close(jax.device_get(resumed), jax.device_get(whole),
                              rtol=1e-5, atol=1e-6)


def _lstm_copy(config):
  config.model.lstm_size = 64


def _sam_copy(config):
  config.model.lstm_size = 32
  config.model.memory.update(num_rows=16, word_size=8, num_reads=2, k=2)


@pytest.mark.parametrize('variants, adjust', [
    ('smoke', _lstm_copy),
    # Slow: SAM's learning is covered by tests/memory/test_memory_in_agent.py.
    pytest.param('sam_copy,smoke', _sam_copy, marks=pytest.mark.slow)],
                         ids=['lstm', 'sam'])
def test_model_learns_to_copy_short_sequences(variants, adjust):
  """From ~1 bit per copied bit (chance) to under 0.6 of that: an LSTM, and SAM as the
  sequence model's core. (SAM ends at 7.1-8.1 bits of 16 over seeds 0-2, and moves by
  ~0.2 with float rounding: the bar leaves room for both.)"""
  config = memory_tasks.get_config(variants)
  adjust(config)
  config.data.kwargs.max_length = 3
  config.optimizer.learning_rate = 3e-3
  config.runtime.updates_per_call = 50
  runtime = supervised.build(config)
  state = runtime.init(jax.random.PRNGKey(0))
  before = runtime.evaluate(state.learner.params, state.data_state, jax.random.PRNGKey(9))
  state, _ = _updates(runtime, state, 10)
  after = runtime.evaluate(state.learner.params, state.data_state, jax.random.PRNGKey(9))
  bits = 8 * 2.0  # mean copied bits per sequence (lengths 1-3)
  assert before['bits_per_sequence'] > 0.9 * bits
  assert after['bits_per_sequence'] < 0.6 * bits, (before, after)


@pytest.mark.slow  # tests/memory/test_memory_configs.py trains a smoke config the same way
def test_smoke_config_trains_through_the_experiment_entry_point(tmp_path):
  config = memory_tasks.get_config('smoke')
  experiment.validate(config)
  result = experiment.train(config, tmp_path, print_fn=lambda s: None)
  # The budget is spent in whole calls of updates_per_call updates of one batch each, and
  # overshoots by less than one call.
  batch, calls = config.data.kwargs.batch_size, config.runtime.updates_per_call
  records = metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')
  assert records[-1]['step'] == result.updates and result.updates % calls == 0
  assert records[-1]['examples'] == result.updates * batch
  assert config.total_examples <= result.updates * batch < config.total_examples + calls * batch
  assert np.isfinite(result.eval_metrics['eval_bits_per_sequence'])
  assert (tmp_path / 'checkpoints').is_dir() and (tmp_path / 'metrics.jsonl').is_file()


@pytest.mark.parametrize('field, value, message', [
    ('data.name', 'recall9', "config.data.name: expected one of ['associative_recall', "
                             "'associative_recall_curriculum', 'copy', 'copy_curriculum'"),
    ('model.lstm_size', 0, 'config.model.lstm_size: expected a positive integer'),
    ('total_examples', -1, 'config.total_examples: expected a positive integer'),
])
def test_bad_config_names_the_field(field, value, message):
  config = memory_tasks.get_config('smoke')
  node = config
  *parents, leaf = field.split('.')
  for p in parents:
    node = node[p]
  node[leaf] = value
  with pytest.raises(Exception, match=message.replace('[', r'\[').replace(']', r'\]')):
    experiment.validate(config)


_SHARDED = textwrap.dedent('''
    import json, jax, numpy as np
    from configs import memory_tasks
    from experiments import supervised
    out = {}
    for devices in (1, 2):
      config = memory_tasks.get_config('smoke')
      config.runtime.num_devices = devices
      runtime = supervised.build(config)
      state = runtime.init(jax.random.PRNGKey(0))
      for _ in range(2):
        state, metrics = runtime.update(state)
      out[devices] = [np.asarray(x).ravel().tolist()
                      for x in jax.tree.leaves(state.learner.params)]
    print(json.dumps(out))
''')


@pytest.mark.slow
def test_two_devices_match_one(run_on_virtual_cpus):
  out = run_on_virtual_cpus(_SHARDED, devices=2)
  for a, b in zip(out['1'], out['2']):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_curriculum_level_is_logged():
  config = memory_tasks.get_config('sam_recall,curriculum,smoke')
  runtime = supervised.build(config)
  _, metrics = _updates(runtime, runtime.init(jax.random.PRNGKey(0)), 1)
  assert metrics['data_level'] == config.data.kwargs.initial_level
  assert 'data_error' in metrics and 'data_updates' in metrics
