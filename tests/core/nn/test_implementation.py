"""Tests of core/nn/implementation.py: what 'auto' means, and XLA's window geometry."""

import jax
import pytest

from core.nn import implementation as implementation_lib


def test_auto_resolves_to_matmul_on_cpu_only():
  resolve = implementation_lib.resolve_implementation
  min_batch = implementation_lib.MATMUL_MIN_BATCH
  expected = 'matmul' if jax.default_backend() == 'cpu' else 'standard'
  assert resolve('auto') == expected
  assert resolve() == expected
  assert resolve('standard') == 'standard'
  assert resolve('auto', min_batch) == expected
  # An actor's small inference batch stays on XLA's own ops, which are faster there.
  assert resolve('auto', min_batch - 1) == 'standard'
  assert resolve('matmul', 1) == 'matmul'
  assert resolve('auto', 1, min_batch=1) == expected
  with pytest.raises(ValueError, match='implementation'):
    resolve('fast')


@pytest.mark.parametrize('size, window, stride, padding, expected', [
    (84, 8, 4, 'VALID', (20, 0, 0)),
    (84, 3, 2, 'SAME', (42, 0, 1)),   # XLA puts the smaller half of the padding first.
    (21, 3, 2, 'SAME', (11, 1, 1)),
    (7, 1, 2, 'SAME', (4, 0, 0)),
])
def test_axis_window_is_xlas(size, window, stride, padding, expected):
  assert implementation_lib.axis_window(size, window, stride, padding) == expected
