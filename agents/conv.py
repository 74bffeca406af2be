"""2-D convolution and max-pool whose gradients are matrix multiplies on the CPU backend.

XLA:CPU runs the forward pass of a convolution well, but its gradients (the kernel gradient
above all, and any strided convolution) and the gradient of a ``reduce_window`` max-pool run
far below its matrix-multiply speed, partly in allocating large temporary buffers. On CPU
these layers therefore compute:

* convolution: im2col. Each kernel offset contributes one slice of the (padded) input; the
  slices are concatenated on the channel axis and multiplied by the kernel reshaped to
  ``[kh * kw * cin, cout]``. The backward pass is then two matrix multiplies plus the pads
  and slices that transpose the patch extraction. Where the output has fewer channels than
  a patch's block (both of the shallow net's convolutions), the same products are formed
  the other way round, shift-and-add (``_conv_matmul``), which builds a smaller
  intermediate. A strided convolution first folds each
  ``stride x stride`` block of pixels into channels (space-to-depth), which turns it into a
  stride-1 convolution over blocks; its gradient then needs no interior-padded scatter.
  The batch is processed in chunks of a few MiB of patches under ``lax.map`` with
  ``jax.checkpoint``, so the 9x-64x inflated patches stay in cache and are rebuilt in the
  backward pass rather than stored.
* max-pool: the maximum over the window's strided slices, with a hand-written gradient
  (``jax.custom_vjp``) that routes each window's cotangent to its first maximum in row-major
  window order, the element ``reduce_window``'s own gradient (``select_and_scatter`` with
  ``>=``) picks. Being a custom VJP, it supports reverse mode only (``jax.grad``, ``jax.vjp``),
  not ``jax.jvp``; use ``implementation='standard'`` for forward-mode derivatives.

Both are equal, values and gradients, to ``flax.linen.Conv`` / ``flax.linen.max_pool`` up to
float rounding; ``implementation='auto'`` uses them on CPU and the standard XLA ops elsewhere.
``scripts/bench_conv.py`` measures the difference. On 2 CPU cores (jax 0.10.2), a learner
update at batch 640 ran:

* deep net: 1.3-2.5x faster, about half of it (with tcmalloc) from the max-pool, whose
  standard gradient ran 4x slower than the slices' here;
* shallow net: 1.2-2.4x faster under glibc's malloc, but only 0.7-1.1x with tcmalloc
  preloaded (as ``core/launch.py`` does): most of the standard gradients' slowness was
  allocating large temporary buffers, not the convolution itself. Shift-and-add then made
  the shallow path 1.3x faster; the whole IMPALA update (scripts/bench_impala.py) ran 1.40x
  the standard layers' speed under glibc and 0.92x with tcmalloc.

At batches below ~100 (shallow) or ~30 (deep), and for forward-only inference, the standard
ops were as fast or up to 2x faster, so 'auto' keeps batches under ``MATMUL_MIN_BATCH`` (an
actor's inference) on them. It does not look at the allocator: pass
``implementation='standard'`` where tcmalloc is preloaded and the net is shallow.
"""

import functools
from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

IMPLEMENTATIONS = ('auto', 'standard', 'matmul')
PADDINGS = ('SAME', 'VALID')
# Patch bytes built per scan step of the matmul convolution. Large enough that one step is a
# matrix multiply of thousands of rows; small enough that the patches, the step's input and
# its output stay in a CPU's L2/L3 cache. Whole-batch patches (hundreds of MiB at batch 640)
# spend more time on memory traffic than the multiply saves. On the 2-core development
# machine 2 MiB was the fastest of 0.5-64 MiB for both IMPALA torsos, 4 MiB as fast when the
# machine was otherwise idle, and larger sizes lost as other processes shared the cache.
DEFAULT_CHUNK_BYTES = 2 * 2**20

_DIMENSION_NUMBERS = ('NHWC', 'HWIO', 'NHWC')

PRNGKey = Any
Shape = tuple[int, ...]
Dtype = Any
Initializer = Callable[[PRNGKey, Shape, Dtype], jax.Array]


# Below this many examples (an actor's inference batch) XLA's own convolution and pool were
# as fast or up to 2x faster on CPU than the matmul path (scripts/bench_conv.py).
MATMUL_MIN_BATCH = 128


def resolve_implementation(implementation: str = 'auto', batch_size: int | None = None) -> str:
  """Which implementation ``implementation`` means on the default backend.

  Args:
    implementation: 'auto', 'standard' or 'matmul'.
    batch_size: examples in the call; 'auto' keeps small batches (fewer than
      ``MATMUL_MIN_BATCH``) on the standard ops. None: no batch preference.

  Returns:
    'standard' or 'matmul'; 'auto' is 'matmul' when ``jax.default_backend()`` is 'cpu'. It is
    decided when a function is traced, so a jitted function keeps its choice.
  """
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(
        f'implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}')
  if implementation == 'auto':
    large = batch_size is None or batch_size >= MATMUL_MIN_BATCH
    return 'matmul' if jax.default_backend() == 'cpu' and large else 'standard'
  return implementation


class _Window(NamedTuple):
  """One spatial dimension of a sliding window."""
  out: int      # Output size.
  pad_lo: int   # Padding before the input.
  pad_hi: int   # Padding after the input.


def _window(size: int, window: int, stride: int, padding: str) -> _Window:
  """Output size and padding of one dimension, as XLA computes them for 'SAME'/'VALID'."""
  if padding == 'VALID':
    return _Window(out=(size - window) // stride + 1, pad_lo=0, pad_hi=0)
  out = -(-size // stride)
  total = max((out - 1) * stride + window - size, 0)
  # XLA puts the smaller half first; matching it is what makes 'SAME' results equal.
  return _Window(out=out, pad_lo=total // 2, pad_hi=total - total // 2)


def _pair(value, name: str) -> tuple[int, int]:
  if isinstance(value, int):
    value = (value, value)
  value = tuple(value)
  if len(value) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in value):
    raise ValueError(f'{name} must be two positive integers, got {value!r}')
  return tuple(int(v) for v in value)


def _check_padding(padding: str):
  if padding not in PADDINGS:
    raise ValueError(f'padding must be one of {PADDINGS}, got {padding!r}')


def _check_windows(shape: Shape, window, strides, padding):
  """Raises if a 'VALID' window does not fit the input; returns the two _Windows."""
  windows = tuple(_window(n, k, s, padding) for n, k, s in zip(shape[1:3], window, strides))
  if any(w.out < 1 for w in windows):
    raise ValueError(f'window {window} does not fit input spatial shape {shape[1:3]} '
                     f"with padding 'VALID'")
  return windows


def conv2d(x: jax.Array, kernel: jax.Array, strides: Sequence[int] = (1, 1),
           padding: str = 'SAME', implementation: str = 'auto', *,
           chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> jax.Array:
  """A 2-D convolution (cross-correlation, like ``lax.conv_general_dilated``), no bias.

  Args:
    x: input ``[N, H, W, C]``.
    kernel: ``[kh, kw, C, O]``, of ``x``'s dtype.
    strides: ``(sh, sw)``, or one int for both.
    padding: 'SAME' (XLA's split: the smaller half before) or 'VALID'.
    implementation: 'auto', 'standard' (``lax.conv_general_dilated``, as flax calls it) or
      'matmul' (im2col, see the module docstring).
    chunk_bytes: for 'matmul', the patch bytes built per scan step over the batch.

  Returns:
    ``[N, OH, OW, O]`` with OH = ceil(H / sh) for 'SAME', (H - kh) // sh + 1 for 'VALID'.
  """
  if x.ndim != 4 or kernel.ndim != 4:
    raise ValueError(f'expected x [N, H, W, C] and kernel [kh, kw, C, O], got shapes '
                     f'{x.shape} and {kernel.shape}')
  if x.shape[-1] != kernel.shape[2]:
    raise ValueError(f'x has {x.shape[-1]} channels but kernel {kernel.shape} expects '
                     f'{kernel.shape[2]}')
  if x.dtype != kernel.dtype:
    raise ValueError(f'x and kernel must share a dtype, got {x.dtype} and {kernel.dtype}')
  strides = _pair(strides, 'strides')
  _check_padding(padding)
  windows = _check_windows(x.shape, kernel.shape[:2], strides, padding)
  if resolve_implementation(implementation, x.shape[0]) == 'standard':
    return lax.conv_general_dilated(x, kernel, strides, padding,
                                    dimension_numbers=_DIMENSION_NUMBERS)
  return _conv_matmul(x, kernel, strides, windows, chunk_bytes)


def _conv_matmul(x, kernel, strides, windows, chunk_bytes):
  """Matrix-multiply convolution over space-to-depth blocks, in cache-sized batch chunks.

  After space-to-depth the convolution is a stride-1 one with a ``bh x bw`` kernel over
  blocks of ``cb = sh * sw * cin`` channels. Two equivalent ways to multiply:

  * im2col: concatenate the ``bh * bw`` shifted views of the blocks into patches of
    ``bh * bw * cb`` channels per output pixel, times a ``[bh * bw * cb, cout]`` matrix;
  * shift-and-add: multiply the blocks once by ``[cb, bh * bw * cout]`` (every kernel
    offset's contribution at every block), then add the ``bh * bw`` shifted slices of that.

  They do the same multiply-adds; what differs is the intermediate (patches of ``bh*bw*cb``
  channels, or products of ``bh*bw*cout``), so the smaller one is built: shift-and-add
  wherever ``cout < cb``, which holds for both of the shallow net's strided convolutions.
  """
  kh, kw, cin, cout = kernel.shape
  sh, sw = strides
  (oh, ph_lo, _), (ow, pw_lo, _) = windows
  # Kernel extent in stride blocks. Kernels that are multiples of the stride (IMPALA's 8x8/4
  # and 4x4/2, every stride-1 kernel) fill their blocks; others get zero taps.
  bh, bw = -(-kh // sh), -(-kw // sw)
  cb = sh * sw * cin
  # Pad (or crop, where 'VALID' leaves rows unused) to exactly the blocks the output reads.
  pads = ((ph_lo, (oh + bh - 1) * sh - x.shape[1] - ph_lo),
          (pw_lo, (ow + bw - 1) * sw - x.shape[2] - pw_lo))
  block_kernel = jnp.pad(kernel, ((0, bh * sh - kh), (0, bw * sw - kw), (0, 0), (0, 0)))
  # [bh * bw, cb, cout]: block offset (bi, bj), then in-block offset (si, sj) and cin.
  block_kernel = block_kernel.reshape(bh, sh, bw, sw, cin, cout).transpose(0, 2, 1, 3, 4, 5)
  block_kernel = block_kernel.reshape(bh * bw, cb, cout)
  shift_add = cout < cb

  if shift_add:
    # Columns ordered (block offset, cout).
    matrix = block_kernel.transpose(1, 0, 2).reshape(cb, bh * bw * cout)
    intermediate = (oh + bh - 1) * (ow + bw - 1) * bh * bw * cout
  else:
    matrix = block_kernel.reshape(bh * bw * cb, cout)
    intermediate = oh * ow * bh * bw * cb

  def apply(x_chunk):
    blocks = _space_to_depth(_pad_hw(x_chunk, pads), (sh, sw))
    offsets = [(i, j) for i in range(bh) for j in range(bw)]
    if shift_add:
      products = jnp.dot(blocks, matrix)
      return sum(products[:, i:i + oh, j:j + ow, k * cout:(k + 1) * cout]
                 for k, (i, j) in enumerate(offsets))
    patches = jnp.concatenate([blocks[:, i:i + oh, j:j + ow] for i, j in offsets], axis=-1)
    return jnp.dot(patches, matrix)

  bytes_per_image = intermediate * x.dtype.itemsize
  return _map_batch_chunks(apply, x, _chunk_size(x.shape[0], chunk_bytes // bytes_per_image))


def _chunk_size(batch: int, target: int) -> int:
  """The largest divisor of ``batch`` up to ``target``, or ``target`` if that is < target / 2.

  A divisor leaves no remainder step, which would run outside the loop (and, with the batch
  sharded over devices, on the last device only).
  """
  target = max(1, min(target, batch))
  divisor = max(d for d in range(1, target + 1) if batch % d == 0)
  return divisor if 2 * divisor >= target else target


def _pad_hw(x, pads):
  """Zero-pads (a negative amount crops) the two spatial axes of ``[N, H, W, C]``."""
  config = ((0, 0, 0),) + tuple((lo, hi, 0) for lo, hi in pads) + ((0, 0, 0),)
  return lax.pad(x, jnp.zeros((), x.dtype), config)


def _space_to_depth(x, strides):
  """``[N, H, W, C] -> [N, H / sh, W / sw, sh * sw * C]``, channels ordered (si, sj, c)."""
  sh, sw = strides
  if (sh, sw) == (1, 1):
    return x
  n, h, w, c = x.shape
  x = x.reshape(n, h // sh, sh, w // sw, sw, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h // sh, w // sw, sh * sw * c)


def _map_batch_chunks(fn, x, chunk):
  """``fn(x)``, computed ``chunk`` examples per scan step.

  Each step is under ``jax.checkpoint``, so the backward pass recomputes a step's
  intermediates (the patches) instead of keeping every step's.
  """
  n = x.shape[0]
  if chunk >= n:
    return fn(x)
  steps = n // chunk
  # With several devices the batch axis may be sharded in contiguous blocks. Step s then
  # takes examples s, s + steps, s + 2 * steps, ..., so that every device holds its share of
  # every step and GSPMD partitions the loop; contiguous steps made it gather the batch onto
  # each device (7x slower on 4 CPU devices). On one device the interleaving's two transposes
  # cost ~15% of the shallow net's update, so contiguous steps are kept there.
  interleave = jax.device_count() > 1
  if interleave:
    main = jnp.swapaxes(x[:steps * chunk].reshape((chunk, steps) + x.shape[1:]), 0, 1)
  else:
    main = x[:steps * chunk].reshape((steps, chunk) + x.shape[1:])
  y = lax.map(jax.checkpoint(fn), main)
  if interleave:
    y = jnp.swapaxes(y, 0, 1)
  y = y.reshape((steps * chunk,) + y.shape[2:])
  if steps * chunk < n:
    y = jnp.concatenate([y, fn(x[steps * chunk:])])
  return y


class Conv(nn.Module):
  """A drop-in for ``flax.linen.Conv`` on 2-D NHWC inputs, with a choice of implementation.

  Parameters are ``kernel [kh, kw, cin, features]`` and ``bias [features]``, named, shaped and
  initialised as ``nn.Conv``'s, so a params tree serves either module. Inputs may have any
  number of leading batch axes (or none), and are promoted with the parameters as flax does
  (uint8 frames with float32 parameters compute in float32).

  Attributes:
    features: output channels.
    kernel_size: ``(kh, kw)``.
    strides: ``(sh, sw)``.
    padding: 'SAME' or 'VALID'.
    use_bias: whether to add a bias.
    dtype: computation dtype (None: promoted from input and parameters).
    param_dtype: parameter dtype.
    kernel_init: kernel initializer (flax's default: LeCun normal).
    bias_init: bias initializer (flax's default: zeros).
    implementation: 'auto' (matmul on CPU, standard elsewhere), 'standard' or 'matmul'.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: str = 'SAME'
  use_bias: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Initializer = nn.linear.default_kernel_init
  bias_init: Initializer = nn.initializers.zeros_init()
  implementation: str = 'auto'

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """``[..., H, W, cin] -> [..., OH, OW, features]``."""
    if isinstance(self.kernel_size, int) or len(self.kernel_size) != 2:
      raise ValueError(f'kernel_size must be (kh, kw), got {self.kernel_size!r}')
    if inputs.ndim < 3:
      raise ValueError(f'expected inputs [..., H, W, C], got shape {inputs.shape}')
    kernel = self.param('kernel', self.kernel_init,
                        tuple(self.kernel_size) + (inputs.shape[-1], self.features),
                        self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    batch_shape = inputs.shape[:-3]
    y = conv2d(inputs.reshape((-1,) + inputs.shape[-3:]), kernel, self.strides,
               self.padding, self.implementation)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])


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
  window = _pair(window, 'window')
  strides = _pair(strides, 'strides')
  _check_padding(padding)
  flat = x.reshape((-1,) + x.shape[-3:])
  _check_windows(flat.shape, window, strides, padding)
  if resolve_implementation(implementation, flat.shape[0]) == 'standard':
    y = nn.max_pool(flat, window, strides, padding)
  else:
    y = _max_pool_slices(flat, window, strides, padding)
  return y.reshape(x.shape[:-3] + y.shape[1:])


def _window_slices(x, window, strides, padding, pad_value):
  """The strided slice of padded ``x`` under each window offset, in row-major order."""
  (oh, ph_lo, ph_hi), (ow, pw_lo, pw_hi) = (
      _window(n, k, s, padding) for n, k, s in zip(x.shape[1:3], window, strides))
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
  # with the same rule measured ~20% slower in the deep net's update: its transpose keeps a
  # mask per window offset and chains the selects.
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
