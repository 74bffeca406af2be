"""Every memory core trains through configs/memory_tasks.py; bad memory fields are named."""

import jax
import pytest

from configs import memory_tasks
from core import config as config_lib
from experiments import experiment
from experiments import supervised


# The dense models compile slowly (tens of seconds each on 2 cores): slow, not default.
@pytest.mark.parametrize('variants', [
    'sam_recall,curriculum,smoke',
    pytest.param('sam_copy,smoke', marks=pytest.mark.slow),
    pytest.param('dnc_recall,smoke', marks=pytest.mark.slow),
    pytest.param('ntm_sort,smoke', marks=pytest.mark.slow),
    pytest.param('dam_copy,smoke', marks=pytest.mark.slow)])
def test_smoke_variants_train(tmp_path, variants):
  config = memory_tasks.get_config(variants)
  experiment.validate(config)
  result = experiment.train(config, tmp_path, print_fn=lambda s: None)
  assert result.updates > 0


@pytest.mark.slow  # the index's model step is covered by test_sam.py in the default run
def test_sam_with_the_lsh_index_trains(tmp_path):
  config = memory_tasks.get_config('sam_copy,smoke')
  config.model.memory.index = 'lsh'
  experiment.validate(config)
  assert experiment.train(config, tmp_path, print_fn=lambda s: None).updates > 0


@pytest.mark.parametrize('field, value, message', [
    ('k', 9, 'at most memory.num_rows'),
    ('index', 'faiss', "one of \\['exact', 'lsh'\\]"),
    ('num_reads', 0, 'a positive integer'),
])
def test_bad_memory_fields_are_named(field, value, message):
  config = memory_tasks.get_config('sam_copy,smoke')
  config.model.memory[field] = value
  with pytest.raises(config_lib.ConfigError, match=f'model.memory.{field}: expected {message}'):
    experiment.validate(config)


def test_sam_learns_to_copy_short_sequences():
  """SAM as the core of the sequence model: from chance to under half of it."""
  config = memory_tasks.get_config('sam_copy,smoke')
  config.model.lstm_size = 32
  config.model.memory.update(num_rows=16, word_size=8, num_reads=2, k=2)
  config.data.kwargs.max_length = 3
  config.optimizer.learning_rate = 3e-3
  config.runtime.updates_per_call = 50
  runtime = supervised.build(config)
  state = runtime.init(jax.random.PRNGKey(0))
  before = runtime.evaluate(state.learner.params, state.data_state, jax.random.PRNGKey(9))
  for _ in range(10):
    state, _ = runtime.update(state)
  after = runtime.evaluate(state.learner.params, state.data_state, jax.random.PRNGKey(9))
  bits = 8 * 2.0  # mean copied bits per sequence (lengths 1-3)
  assert before['bits_per_sequence'] > 0.9 * bits
  assert after['bits_per_sequence'] < 0.5 * bits, (before, after)
