"""The copy task: what is shown is what must be replayed, and nothing else is scored."""

import jax
import numpy as np
import pytest

from envs import copy_task
from envs import task_registry


def test_targets_replay_the_shown_vectors_after_the_delimiter():
  batch = copy_task.sample(jax.random.PRNGKey(0), batch_size=6, bits=5, min_length=2,
                           max_length=7)
  inputs, targets, mask = map(np.asarray, batch)
  assert inputs.shape == (15, 6, 6) and targets.shape == (15, 6, 5) and mask.shape == (15, 6)
  for b in range(6):
    length = int(np.argmax(inputs[:, b, 5]))      # the delimiter's step
    assert 2 <= length <= 7 and inputs[:, b, 5].sum() == 1
    shown = inputs[:length, b, :5]
    np.testing.assert_array_equal(targets[length + 1:2 * length + 1, b], shown)
    np.testing.assert_array_equal(mask[:, b], np.r_[np.zeros(length + 1), np.ones(length),
                                                    np.zeros(15 - 2 * length - 1)])
    assert not inputs[length + 1:, b].any()       # nothing is shown while replaying
    assert not targets[mask[:, b] == 0, b].any()


def test_lengths_cover_the_range_and_batches_depend_on_the_key():
  source = copy_task.make(batch_size=256, bits=4, min_length=1, max_length=5)
  batch = source.sample(source.init(), jax.random.PRNGKey(1))
  lengths = np.asarray(batch.mask).sum(0)
  assert set(lengths.astype(int)) == {1, 2, 3, 4, 5}
  again = source.sample(source.init(), jax.random.PRNGKey(1))
  other = source.sample(source.init(), jax.random.PRNGKey(2))
  np.testing.assert_array_equal(batch.inputs, again.inputs)
  assert not np.array_equal(batch.inputs, other.inputs)


@pytest.mark.parametrize('kwargs, message', [
    ({'bits': 0}, 'bits must be an integer >= 1'),
    ({'min_length': 5, 'max_length': 3}, 'min_length must be <= max_length'),
    ({'width': 3}, "task 'copy' got unknown argument"),
])
def test_bad_arguments_name_the_field(kwargs, message):
  with pytest.raises(ValueError, match=message):
    task_registry.make('copy', **kwargs)
