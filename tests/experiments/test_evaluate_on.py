"""A trained supervised run evaluated on data it did not train on (longer sequences)."""

import pytest

from configs import memory_tasks
from experiments import experiment
from experiments import supervised


@pytest.mark.slow  # trains a model first (about 20 s); run with -m slow
def test_evaluates_a_checkpoint_on_longer_sequences(tmp_path):
  config = memory_tasks.get_config('lstm_copy,smoke')
  experiment.train(config, tmp_path, print_fn=lambda s: None)
  same = supervised.evaluate_on(tmp_path, data_kwargs={}, num_batches=2)
  longer = supervised.evaluate_on(tmp_path, data_kwargs={'min_length': 40, 'max_length': 40},
                                  num_batches=2)
  # An untrained-length copy costs more bits: ~8 bits per step of 40 against at most 4.
  assert longer['bits_per_sequence'] > 4 * same['bits_per_sequence']
  with pytest.raises(ValueError, match='unknown argument'):
    supervised.evaluate_on(tmp_path, data_kwargs={'not_an_argument': 1})
