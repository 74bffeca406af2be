"""Associative recall: the answer is the item that followed the query, and only it is scored."""

import jax
import numpy as np
import pytest

from envs import associative_recall
from envs import task_registry

BITS, ITEM_LENGTH, MAX_ITEMS = 6, 3, 5
PERIOD = ITEM_LENGTH + 1


def _parse(inputs, b):
  """The items shown and the query of row ``b``, read back from the inputs alone."""
  item_starts = np.flatnonzero(inputs[:, b, BITS])
  query_marks = np.flatnonzero(inputs[:, b, BITS + 1])
  items = [inputs[s + 1:s + PERIOD, b, :BITS] for s in item_starts]
  query = inputs[query_marks[0] + 1:query_marks[1], b, :BITS]
  return item_starts, query_marks, items, query


def test_the_target_is_the_item_after_the_query():
  batch = associative_recall.sample(jax.random.PRNGKey(0), batch_size=8, bits=BITS,
                                    item_length=ITEM_LENGTH, min_items=2,
                                    max_items=MAX_ITEMS)
  inputs, targets, mask = map(np.asarray, batch)
  total = (MAX_ITEMS + 2) * PERIOD
  assert inputs.shape == (total, 8, BITS + 2) and targets.shape == (total, 8, BITS)
  assert mask.shape == (total, 8)
  for b in range(8):
    item_starts, query_marks, items, query = _parse(inputs, b)
    n = len(item_starts)
    assert 2 <= n <= MAX_ITEMS
    np.testing.assert_array_equal(item_starts, np.arange(n) * PERIOD)
    np.testing.assert_array_equal(query_marks, [n * PERIOD, (n + 1) * PERIOD])
    matches = [i for i, item in enumerate(items) if np.array_equal(item, query)]
    assert matches and matches[0] < n - 1            # the query is not the last item
    expected = items[matches[0] + 1]
    answer = (n + 1) * PERIOD + 1
    np.testing.assert_array_equal(targets[answer:answer + ITEM_LENGTH, b], expected)
    np.testing.assert_array_equal(np.flatnonzero(mask[:, b]),
                                  np.arange(answer, answer + ITEM_LENGTH))
    assert not targets[mask[:, b] == 0, b].any()
    assert not inputs[answer:, b].any()              # nothing is shown while answering
    # Each item step shows one of the item's vectors and no delimiter.
    assert not inputs[item_starts[:, None] + np.arange(1, PERIOD), b, BITS:].any()


def test_every_shown_item_but_the_last_is_queried():
  batch = associative_recall.sample(jax.random.PRNGKey(1), batch_size=400, bits=BITS,
                                    item_length=ITEM_LENGTH, min_items=4, max_items=4)
  inputs = np.asarray(batch.inputs)
  queried = set()
  for b in range(400):
    _, _, items, query = _parse(inputs, b)
    queried.add(next(i for i, item in enumerate(items) if np.array_equal(item, query)))
  assert queried == {0, 1, 2}


def test_item_counts_cover_the_range_and_batches_depend_on_the_key():
  source = associative_recall.make(batch_size=256, bits=4, item_length=2, min_items=2,
                                   max_items=5)
  batch = source.sample(source.init(), jax.random.PRNGKey(1))
  counts = np.asarray(batch.inputs)[:, :, 4].sum(0)   # item delimiters per row
  assert set(counts.astype(int)) == {2, 3, 4, 5}
  assert set(np.asarray(batch.mask).sum(0).astype(int)) == {2}
  again = source.sample(source.init(), jax.random.PRNGKey(1))
  other = source.sample(source.init(), jax.random.PRNGKey(2))
  np.testing.assert_array_equal(batch.inputs, again.inputs)
  assert not np.array_equal(batch.inputs, other.inputs)


def test_traced_item_counts_keep_the_shapes():
  sample = jax.jit(lambda key, n: associative_recall.sample_with_lengths(
      key, n, bits=3, item_length=2, max_items=6))
  batch = sample(jax.random.PRNGKey(0), np.array([2, 6, 3], np.int32))
  assert batch.inputs.shape == (24, 3, 5)
  np.testing.assert_array_equal(np.asarray(batch.inputs)[:, :, 3].sum(0), [2, 6, 3])


@pytest.mark.parametrize('kwargs, message', [
    ({'bits': 0}, 'bits must be an integer >= 1'),
    ({'item_length': 0}, 'item_length must be an integer >= 1'),
    ({'min_items': 1}, 'min_items must be an integer >= 2'),
    ({'min_items': 5, 'max_items': 3}, 'min_items must be <= max_items'),
    ({'batch_size': 2.0}, 'batch_size must be an integer >= 1'),
    ({'max_length': 3}, "task 'associative_recall' got unknown argument"),
])
def test_bad_arguments_name_the_field(kwargs, message):
  with pytest.raises(ValueError, match=message):
    task_registry.make('associative_recall', **kwargs)
