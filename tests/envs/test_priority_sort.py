"""Priority sort: the outputs are the highest-priority vectors, highest first."""

import jax
import numpy as np
import pytest

from envs import priority_sort
from envs import task_registry

BITS = 5


def test_targets_are_the_top_vectors_by_priority():
  batch = priority_sort.sample(jax.random.PRNGKey(0), batch_size=8, bits=BITS, min_length=2,
                               max_length=9, num_outputs=4)
  inputs, targets, mask = map(np.asarray, batch)
  total = 9 + 1 + 4
  assert inputs.shape == (total, 8, BITS + 2) and targets.shape == (total, 8, BITS)
  assert mask.shape == (total, 8)
  for b in range(8):
    n = int(np.argmax(inputs[:, b, BITS + 1]))     # the delimiter's step
    assert 2 <= n <= 9 and inputs[:, b, BITS + 1].sum() == 1
    vectors, priorities = inputs[:n, b, :BITS], inputs[:n, b, BITS]
    assert np.all(np.abs(priorities) <= 1) and len(set(priorities)) == n
    k = min(4, n)
    expected = vectors[sorted(range(n), key=lambda i: -priorities[i])[:k]]
    np.testing.assert_array_equal(targets[n + 1:n + 1 + k, b], expected)
    np.testing.assert_array_equal(np.flatnonzero(mask[:, b]), np.arange(n + 1, n + 1 + k))
    assert not targets[mask[:, b] == 0, b].any()
    assert not inputs[n + 1:, b].any()             # nothing is shown while sorting
    assert not inputs[n, b, :BITS + 1].any()


def test_priorities_are_spread_over_minus_one_to_one():
  batch = priority_sort.sample(jax.random.PRNGKey(3), batch_size=64, bits=2, min_length=8,
                               max_length=8, num_outputs=8)
  priorities = np.asarray(batch.inputs)[:8, :, 2]
  assert priorities.min() < -0.9 and priorities.max() > 0.9


def test_lengths_cover_the_range_and_batches_depend_on_the_key():
  source = priority_sort.make(batch_size=256, bits=4, min_length=1, max_length=5,
                              num_outputs=3)
  batch = source.sample(source.init(), jax.random.PRNGKey(1))
  lengths = np.asarray(batch.inputs)[:, :, 5].argmax(0)
  assert set(lengths.astype(int)) == {1, 2, 3, 4, 5}
  np.testing.assert_array_equal(np.asarray(batch.mask).sum(0), np.minimum(lengths, 3))
  again = source.sample(source.init(), jax.random.PRNGKey(1))
  other = source.sample(source.init(), jax.random.PRNGKey(2))
  np.testing.assert_array_equal(batch.inputs, again.inputs)
  assert not np.array_equal(batch.inputs, other.inputs)


def test_default_is_the_ntm_setting():
  source = task_registry.make('priority_sort', batch_size=2)
  batch = source.sample(source.init(), jax.random.PRNGKey(0))
  assert batch.inputs.shape == (37, 2, 10)
  np.testing.assert_array_equal(np.asarray(batch.mask).sum(0), [16, 16])


@pytest.mark.parametrize('kwargs, message', [
    ({'bits': 0}, 'bits must be an integer >= 1'),
    ({'min_length': 5, 'max_length': 3, 'num_outputs': 2}, 'min_length must be <= max_length'),
    ({'max_length': 10, 'num_outputs': 11}, 'num_outputs must be <= max_length'),
    ({'num_outputs': 0}, 'num_outputs must be an integer >= 1'),
    ({'items': 3}, "task 'priority_sort' got unknown argument"),
])
def test_bad_arguments_name_the_field(kwargs, message):
  with pytest.raises(ValueError, match=message):
    task_registry.make('priority_sort', **kwargs)
