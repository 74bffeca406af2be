"""What the convolution and the max-pool share: which implementation 'auto' means, and the
'SAME'/'VALID' window geometry both paths must compute exactly as XLA does.

Each layer has a 'standard' path (XLA's own op, as flax calls it) and a 'matmul' path (on
CPU, gradients that are matrix multiplies and selects; see ``core/nn/conv.py`` and
``core/nn/max_pool.py``). 'auto' takes the matmul path on the CPU backend, for batches of at
least ``min_batch`` examples, and the standard one elsewhere.
"""

from typing import NamedTuple

import jax
import numpy as np

IMPLEMENTATIONS = ('auto', 'standard', 'matmul')
PADDINGS = ('SAME', 'VALID')

# Below this many examples (an actor's inference batch) XLA's own im2col-shaped convolutions
# (the deep net's 3x3 ones) and pool were as fast as the matmul path on CPU or faster, so
# 'auto' keeps them on XLA's ops there. Shift-and-add convolutions (the shallow net's) were
# as fast or faster at every batch, so ``core.nn.conv`` gives them the matmul path at any
# size. ``scripts/bench_conv.py --batch=N --deep_batch=N`` measures it; the figures behind
# the choice are in results/bench/NOTES.md.
MATMUL_MIN_BATCH = 128


def resolve_implementation(implementation: str = 'auto', batch_size: int | None = None,
                           min_batch: int = MATMUL_MIN_BATCH) -> str:
  """Which implementation ``implementation`` means on the default backend.

  Args:
    implementation: 'auto', 'standard' or 'matmul'.
    batch_size: examples in the call; 'auto' keeps small batches (fewer than
      ``min_batch``) on the standard ops. None: no batch preference.
    min_batch: the smallest batch 'auto' gives the matmul path.

  Returns:
    'standard' or 'matmul'; 'auto' is 'matmul' when ``jax.default_backend()`` is 'cpu'. It is
    decided when a function is traced, so a jitted function keeps its choice.
  """
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(
        f'implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}')
  if implementation == 'auto':
    large = batch_size is None or batch_size >= min_batch
    return 'matmul' if jax.default_backend() == 'cpu' and large else 'standard'
  return implementation


class Window(NamedTuple):
  """One spatial dimension of a sliding window."""
  out: int      # Output size.
  pad_lo: int   # Padding before the input.
  pad_hi: int   # Padding after the input.


def axis_window(size: int, window: int, stride: int, padding: str) -> Window:
  """Output size and padding of one dimension, as XLA computes them for 'SAME'/'VALID'."""
  if padding == 'VALID':
    return Window(out=(size - window) // stride + 1, pad_lo=0, pad_hi=0)
  out = -(-size // stride)
  total = max((out - 1) * stride + window - size, 0)
  # XLA puts the smaller half first; matching it is what makes 'SAME' results equal.
  return Window(out=out, pad_lo=total // 2, pad_hi=total - total // 2)


def as_pair(value, name: str) -> tuple[int, int]:
  """``(a, b)`` from one positive int or two; raises naming ``name`` otherwise."""
  if isinstance(value, int):
    value = (value, value)
  value = tuple(value)
  if len(value) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in value):
    raise ValueError(f'{name} must be two positive integers, got {value!r}')
  return tuple(int(v) for v in value)


def check_padding(padding: str):
  if padding not in PADDINGS:
    raise ValueError(f'padding must be one of {PADDINGS}, got {padding!r}')


def check_windows(shape: tuple[int, ...], window, strides, padding) -> tuple[Window, Window]:
  """The two spatial ``Window``s of an NHWC ``shape``; raises if a 'VALID' one does not fit."""
  windows = tuple(axis_window(n, k, s, padding)
                  for n, k, s in zip(shape[1:3], window, strides))
  if any(w.out < 1 for w in windows):
    raise ValueError(f'window {window} does not fit input spatial shape {shape[1:3]} '
                     f"with padding 'VALID'")
  return windows
