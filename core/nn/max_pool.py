"""Max-pool whose gradient is a select on the CPU backend.

XLA:CPU runs the gradient of a ``reduce_window`` max-pool (``select_and_scatter``) slowly,
partly in allocating large temporary buffers. The 'matmul' path (named for the convolution's
in ``core/nn/conv.py``, with which it is chosen) takes the maximum over the window's strided
slices, with a hand-written gradient (``jax.custom_vjp``) that routes each window's
cotangent to its first maximum in row-major window order, the element ``reduce_window``'s
own gradient (``select_and_scatter`` with ``>=``) picks. Being a custom VJP, it supports
reverse mode only (``jax.grad``, ``jax.vjp``), not ``jax.jvp``; use
``implementation='standard'`` for forward-mode derivatives.

It equals ``flax.linen.max_pool``, values and gradients; ``implementation='auto'`` uses it on
CPU from ``MATMUL_MIN_BATCH`` examples and ``reduce_window`` elsewhere
(``core/nn/implementation.py``). ``scripts/bench_conv.py`` (the deep torso) and
``scripts/bench_impala.py`` measure it: see results/bench/impala.json, written by
scripts/bench_impala.py, and results/bench/NOTES.md.
"""

import functools
from typing import Sequence

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp

from core.nn import implementation as implementation_lib


def max_pool(x: jax.Array, window: Sequence[int], strides: Sequence[int],
             padding: str = 'SAME', implementation: str = 'auto') -> jax.Array:
  """Max-pool over NHWC inputs, as ``flax.linen.max_pool`` (note the 'SAME' default here).

  The 'matmul' (fast) path takes the maximum of the window's strided slices of the input
  padded with the dtype's lowest value. Its gradient sends each window's cotangent wholly to
  the window's first maximum in row-major window order, as ``reduce_window``'s gradient does,
  so on ties the two agree too; a window whose maximum is NaN passes no gradient. The fast
  path is reverse-mode differentiable only.

  Args:
    x: ``[..., H, W, C]``, any number of leading batch axes (or none).
    window: ``(wh, ww)``.
    strides: ``(sh, sw)``.
    padding: 'SAME' or 'VALID'.
    implementation: 'auto', 'standard' (``flax.linen.max_pool``) or 'matmul'.

  Returns:
    ``[..., OH, OW, C]``.
  """
  if x.ndim < 3:
    raise ValueError(f'expected x [..., H, W, C], got shape {x.shape}')
  window = implementation_lib.as_pair(window, 'window')
  strides = implementation_lib.as_pair(strides, 'strides')
  implementation_lib.check_padding(padding)
  flat = x.reshape((-1,) + x.shape[-3:])
  implementation_lib.check_windows(flat.shape, window, strides, padding)
  if implementation_lib.resolve_implementation(implementation, flat.shape[0]) == 'standard':
    y = nn.max_pool(flat, window, strides, padding)
  else:
    y = _max_pool_slices(flat, window, strides, padding)
  return y.reshape(x.shape[:-3] + y.shape[1:])


def _window_slices(x, window, strides, padding, pad_value):
  """The strided slice of padded ``x`` under each window offset, in row-major order."""
  (oh, ph_lo, ph_hi), (ow, pw_lo, pw_hi) = (
      implementation_lib.axis_window(n, k, s, padding)
      for n, k, s in zip(x.shape[1:3], window, strides))
  x = lax.pad(x, jnp.asarray(pad_value, x.dtype),
              ((0, 0, 0), (ph_lo, ph_hi, 0), (pw_lo, pw_hi, 0), (0, 0, 0)))
  sh, sw = strides
  n, c = x.shape[0], x.shape[-1]
  return [lax.slice(x, (0, i, j, 0), (n, i + sh * (oh - 1) + 1, j + sw * (ow - 1) + 1, c),
                    (1, sh, sw, 1))
          for i in range(window[0]) for j in range(window[1])]


def _lowest(dtype):
  if jnp.issubdtype(dtype, jnp.floating):
    return -jnp.inf
  return jnp.iinfo(dtype).min


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool_slices(x, window, strides, padding):
  return functools.reduce(jnp.maximum, _window_slices(x, window, strides, padding,
                                                      _lowest(x.dtype)))


def _max_pool_slices_fwd(x, window, strides, padding):
  y = _max_pool_slices(x, window, strides, padding)
  return y, (x, y)


def _max_pool_slices_bwd(window, strides, padding, residuals, dy):
  # jnp.maximum's own derivative splits ties between its arguments, and a chain of them splits
  # unevenly; claiming one element per window instead matches reduce_window. A custom_jvp
  # with the same rule is slower in the deep net's update (results/bench/NOTES.md): its
  # transpose keeps a mask per window offset and chains the selects.
  x, y = residuals
  slices, slices_vjp = jax.vjp(
      lambda a: _window_slices(a, window, strides, padding, _lowest(a.dtype)), x)
  unclaimed = jnp.ones(y.shape, bool)
  cotangents = []
  for slice_x in slices:
    first_max = unclaimed & (slice_x == y)
    cotangents.append(jnp.where(first_max, dy, jnp.zeros_like(dy)))
    unclaimed = unclaimed & ~first_max
  dx, = slices_vjp(cotangents)
  return (dx,)


_max_pool_slices.defvjp(_max_pool_slices_fwd, _max_pool_slices_bwd)
