"""2-D convolution whose gradients are matrix multiplies on the CPU backend.

XLA:CPU runs the forward pass of a convolution well, but its gradients (the kernel gradient
above all, and any strided convolution) run far below its matrix-multiply speed, partly in
allocating large temporary buffers. On CPU the 'matmul' path therefore computes the
convolution as follows. A strided convolution first folds each ``stride x stride`` block of
pixels into channels (space-to-depth), which turns it into a stride-1 convolution over
blocks whose gradient needs no interior-padded scatter. That one is a matrix multiply,
formed either as im2col (the shifted views of the blocks concatenated into patches, times
the kernel as ``[kh * kw * cb, cout]``) or, where the output has fewer channels than a block
(both of the shallow net's convolutions), as shift-and-add (the blocks times every kernel
offset's matrix at once, then the shifted slices of that summed), whichever builds the
smaller intermediate (``_shift_add``, ``_block_matrix``). The batch is processed in chunks
of a few MiB of intermediate under ``lax.scan``, so the inflated patches stay in cache. A
custom VJP runs the backward pass as a second scan over the same chunks: it rebuilds each
chunk's blocks from the input (uint8 frames are cast and scaled per chunk, ``input_scale``),
sums the kernel gradient in its carry, and computes an input gradient only where the input
is differentiated. For shift-and-add the kernel gradient is one multiply of the blocks by
the output cotangent shifted under every kernel offset (``_block_conv_bwd``).

It equals ``flax.linen.Conv``, values and gradients, up to float rounding;
``implementation='auto'`` uses it on CPU and XLA's convolution elsewhere
(``core/nn/implementation.py``). An im2col-shaped convolution (the deep net's 3x3 ones) takes
the matmul path only from ``MATMUL_MIN_BATCH`` examples, where it is the faster; a
shift-and-add one at any batch. ``scripts/bench_conv.py`` measures the difference (the
update of a torso alone) and ``scripts/bench_impala.py`` the whole IMPALA learner, with and
without tcmalloc: see results/bench/impala.json (written by scripts/bench_impala.py) and,
for figures behind the design choices here, results/bench/NOTES.md.
"""

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp

from core.nn import implementation as implementation_lib

# Patch bytes built per scan step of the matmul convolution. Large enough that one step is a
# matrix multiply of thousands of rows; small enough that the patches, the step's input and
# its output stay in a CPU's L2/L3 cache. Whole-batch patches (hundreds of MiB at batch 640)
# spend more time on memory traffic than the multiply saves, and sizes much above the cache
# lose further when other processes share it. 2 MiB was the fastest size for both IMPALA
# torsos in a sweep (results/bench/NOTES.md).
DEFAULT_CHUNK_BYTES = 2 * 2**20

_DIMENSION_NUMBERS = ('NHWC', 'HWIO', 'NHWC')

PRNGKey = Any
Shape = tuple[int, ...]
Dtype = Any
Initializer = Callable[[PRNGKey, Shape, Dtype], jax.Array]


def conv2d(x: jax.Array, kernel: jax.Array, strides: Sequence[int] = (1, 1),
           padding: str = 'SAME', implementation: str = 'auto', *,
           input_scale: float | None = None,
           chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> jax.Array:
  """A 2-D convolution (cross-correlation, like ``lax.conv_general_dilated``), no bias.

  Args:
    x: input ``[N, H, W, C]``, of ``kernel``'s dtype or of an integer one (frames), which is
      cast to ``kernel``'s.
    kernel: ``[kh, kw, C, O]``.
    strides: ``(sh, sw)``, or one int for both.
    padding: 'SAME' (XLA's split: the smaller half before) or 'VALID'.
    implementation: 'auto', 'standard' (``lax.conv_general_dilated``, as flax calls it) or
      'matmul' (see the module docstring).
    input_scale: if given, the input is multiplied by it after the cast (1/255 for uint8
      frames). The 'matmul' path casts and scales one batch chunk at a time, so integer
      frames never exist as a floating-point array of the whole batch.
    chunk_bytes: for 'matmul', the intermediate bytes built per scan step over the batch.

  Returns:
    ``[N, OH, OW, O]`` with OH = ceil(H / sh) for 'SAME', (H - kh) // sh + 1 for 'VALID'.
  """
  if x.ndim != 4 or kernel.ndim != 4:
    raise ValueError(f'expected x [N, H, W, C] and kernel [kh, kw, C, O], got shapes '
                     f'{x.shape} and {kernel.shape}')
  if x.shape[-1] != kernel.shape[2]:
    raise ValueError(f'x has {x.shape[-1]} channels but kernel {kernel.shape} expects '
                     f'{kernel.shape[2]}')
  if x.dtype != kernel.dtype and not jnp.issubdtype(x.dtype, jnp.integer):
    raise ValueError(f'x must have the kernel\'s dtype ({kernel.dtype}) or an integer one, '
                     f'got {x.dtype}')
  strides = implementation_lib.as_pair(strides, 'strides')
  implementation_lib.check_padding(padding)
  windows = implementation_lib.check_windows(x.shape, kernel.shape[:2], strides, padding)
  block_channels = strides[0] * strides[1] * kernel.shape[2]
  min_batch = (1 if _shift_add(block_channels, kernel.shape[3])
               else implementation_lib.MATMUL_MIN_BATCH)
  if implementation_lib.resolve_implementation(
      implementation, x.shape[0], min_batch) == 'standard':
    return lax.conv_general_dilated(_cast(x, kernel.dtype, input_scale), kernel, strides,
                                    padding, dimension_numbers=_DIMENSION_NUMBERS)
  return _conv_matmul(x, kernel, strides, windows, input_scale, chunk_bytes)


def _cast(x, dtype, scale):
  x = x.astype(dtype)
  return x if scale is None else x * jnp.asarray(scale, dtype)


def _conv_matmul(x, kernel, strides, windows, input_scale, chunk_bytes):
  """Matrix-multiply convolution over space-to-depth blocks, in cache-sized batch chunks.

  After space-to-depth the convolution is a stride-1 one with a ``bh x bw`` kernel over
  blocks of ``cb = sh * sw * cin`` channels (``_block_conv``).
  """
  kh, kw, cin, cout = kernel.shape
  sh, sw = strides
  (oh, ph_lo, _), (ow, pw_lo, _) = windows
  # Kernel extent in stride blocks. Kernels that are multiples of the stride (IMPALA's 8x8/4
  # and 4x4/2, every stride-1 kernel) fill their blocks; others get zero taps.
  bh, bw = -(-kh // sh), -(-kw // sw)
  # Pad (or crop, where 'VALID' leaves rows unused) to exactly the blocks the output reads.
  pads = ((ph_lo, (oh + bh - 1) * sh - x.shape[1] - ph_lo),
          (pw_lo, (ow + bw - 1) * sw - x.shape[2] - pw_lo))
  block_kernel = jnp.pad(kernel, ((0, bh * sh - kh), (0, bw * sw - kw), (0, 0), (0, 0)))
  # [bh, bw, cb, cout]: block offset (bi, bj), then in-block offset (si, sj) and cin.
  block_kernel = block_kernel.reshape(bh, sh, bw, sw, cin, cout).transpose(0, 2, 1, 3, 4, 5)
  block_kernel = block_kernel.reshape(bh, bw, sh * sw * cin, cout)
  # Space-to-depth in the input's dtype: for uint8 frames a quarter of float32's bytes to
  # shuffle, once for both passes; each scan step then only casts its chunk.
  blocks = _space_to_depth(_pad_hw(x, pads), strides)
  scale = None if input_scale is None else float(input_scale)
  return _block_conv(blocks, block_kernel, scale, chunk_bytes)


def _shift_add(cb: int, cout: int) -> bool:
  """Whether blocks of ``cb`` channels convolve to ``cout`` by shift-and-add (``_block_matrix``)."""
  return cout < cb


def _block_matrix(block_kernel):
  """The matrix ``_block_conv_chunk`` multiplies by, for ``block_kernel [bh, bw, cb, cout]``.

  Two equivalent ways to multiply:

  * im2col: concatenate the ``bh * bw`` shifted views of the blocks into patches of
    ``bh * bw * cb`` channels per output pixel, times a ``[bh * bw * cb, cout]`` matrix;
  * shift-and-add: multiply the blocks once by ``[cb, bh * bw * cout]`` (every kernel
    offset's contribution at every block), then add the ``bh * bw`` shifted slices of that.

  They do the same multiply-adds; what differs is the intermediate (patches of ``bh*bw*cb``
  channels, or products of ``bh*bw*cout``), so the smaller one is built: shift-and-add
  wherever ``cout < cb``, which holds for both of the shallow net's strided convolutions.
  """
  bh, bw, cb, cout = block_kernel.shape
  if _shift_add(cb, cout):
    # Columns ordered (block offset, cout).
    return block_kernel.transpose(2, 0, 1, 3).reshape(cb, bh * bw * cout)
  return block_kernel.reshape(bh * bw * cb, cout)


def _block_conv_chunk(blocks, matrix, block_shape, scale):
  """The stride-1 'VALID' convolution of a chunk of ``blocks``, by ``_block_matrix``."""
  bh, bw, cb, cout = block_shape
  blocks = _cast(blocks, matrix.dtype, scale)
  oh, ow = blocks.shape[1] - bh + 1, blocks.shape[2] - bw + 1
  offsets = [(i, j) for i in range(bh) for j in range(bw)]
  if _shift_add(cb, cout):
    products = jnp.dot(blocks, matrix)
    return sum(products[:, i:i + oh, j:j + ow, k * cout:(k + 1) * cout]
               for k, (i, j) in enumerate(offsets))
  patches = jnp.concatenate([blocks[:, i:i + oh, j:j + ow] for i, j in offsets], axis=-1)
  return jnp.dot(patches, matrix)


def _block_chunk(blocks, block_kernel, chunk_bytes):
  """Examples per scan step of ``_block_conv``, forward and backward alike.

  The budget covers the larger per-image intermediate: the patches (``oh*ow*bh*bw*cb``) or
  the products (``hb*wb*bh*bw*cout``), and their cotangent in the backward pass. One size for
  both passes keeps their steps aligned with a sharded batch.
  """
  bh, bw, cb, cout = block_kernel.shape
  _, hb, wb, _ = blocks.shape
  if _shift_add(cb, cout):
    per_image = hb * wb * bh * bw * cout
  else:
    per_image = (hb - bh + 1) * (wb - bw + 1) * bh * bw * cb
  return _chunk_size(blocks.shape[0], chunk_bytes // (per_image * block_kernel.dtype.itemsize))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _block_conv(blocks, block_kernel, scale, chunk_bytes):
  """The convolution of ``blocks`` (cast, times ``scale``) by ``block_kernel``, in chunks.

  A custom VJP rather than ``jax.checkpoint`` under ``lax.map``: the backward pass is its own
  scan over the same chunks, casting each chunk's blocks again in cache (uint8 frames are
  read at a quarter of float32's bytes) and summing the kernel gradient in its carry. The
  autodiff of the checkpointed map did the same multiply-adds, but slower than both this and
  XLA's own gradient (results/bench/NOTES.md).
  """
  matrix = _block_matrix(block_kernel)
  chunk = _block_chunk(blocks, block_kernel, chunk_bytes)
  y, _ = _map_batch_chunks(
      lambda b: (_block_conv_chunk(b, matrix, block_kernel.shape, scale), ()), (blocks,), chunk)
  return y


def _block_conv_fwd(blocks, block_kernel, scale, chunk_bytes):
  # With symbolic zeros the primals say whether they are differentiated: frames are not, and
  # then no input gradient is computed.
  y = _block_conv(blocks.value, block_kernel.value, scale, chunk_bytes)
  return y, (blocks.value, block_kernel.value, blocks.perturbed)


def _block_conv_bwd(scale, chunk_bytes, residuals, dy):
  """Both gradients from the output cotangent shifted under every kernel offset.

  ``shifted[n, p, q, (k, o)] = dy[n, p - i_k, q - j_k, o]`` (zero outside), with
  ``bh * bw * cout`` channels over the block grid: the kernel gradient is one matrix
  multiply that contracts the batch and both spatial axes, ``blocks^T shifted``, and the
  blocks' gradient is ``shifted`` times the kernel. (For shift-and-add, ``shifted`` is the
  products' cotangent; autodiff built it, more slowly, from four scattered copies.)
  Where im2col's patches are the smaller intermediate, autodiff's own transpose is used.
  """
  blocks, block_kernel, blocks_differentiated = residuals
  if isinstance(dy, jax.custom_derivatives.SymbolicZero):
    return None, None
  bh, bw, cb, cout = block_kernel.shape
  oh, ow = dy.shape[1:3]
  dtype = block_kernel.dtype

  # Each branch below builds the matrix its chunk function closes over, once, outside the scan.
  def apply_shift_add(blocks_chunk, dy_chunk):
    cast, cast_vjp = jax.vjp(lambda a: _cast(a, dtype, scale), blocks_chunk)
    hb, wb = cast.shape[1:3]
    shifted = jnp.concatenate(
        [jnp.pad(dy_chunk, ((0, 0), (i, hb - oh - i), (j, wb - ow - j), (0, 0)))
         for i in range(bh) for j in range(bw)], axis=-1)
    dmatrix = lax.dot_general(cast, shifted, (((0, 1, 2), (0, 1, 2)), ((), ())))
    dblocks = cast_vjp(jnp.dot(shifted, matrix_t))[0] if blocks_differentiated else ()
    return dblocks, dmatrix

  def apply_im2col(blocks_chunk, dy_chunk):
    if blocks_differentiated:
      _, chunk_vjp = jax.vjp(lambda a, m: _block_conv_chunk(a, m, block_kernel.shape, scale),
                             blocks_chunk, matrix)
      return chunk_vjp(dy_chunk)
    _, chunk_vjp = jax.vjp(
        lambda m: _block_conv_chunk(blocks_chunk, m, block_kernel.shape, scale), matrix)
    return (), chunk_vjp(dy_chunk)[0]

  chunk = _block_chunk(blocks, block_kernel, chunk_bytes)
  if _shift_add(cb, cout):
    # Rows ordered (block offset, cout), as ``shifted``'s channels.
    matrix_t = block_kernel.transpose(0, 1, 3, 2).reshape(bh * bw * cout, cb)
    dblocks, dmatrix = _map_batch_chunks(apply_shift_add, (blocks, dy), chunk)
    dkernel = dmatrix.reshape(cb, bh, bw, cout).transpose(1, 2, 0, 3)
  else:
    matrix, matrix_vjp = jax.vjp(_block_matrix, block_kernel)
    dblocks, dmatrix = _map_batch_chunks(apply_im2col, (blocks, dy), chunk)
    dkernel, = matrix_vjp(dmatrix)
  return (dblocks if blocks_differentiated else None), dkernel


_block_conv.defvjp(_block_conv_fwd, _block_conv_bwd, symbolic_zeros=True)


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


def _map_batch_chunks(fn, xs, chunk):
  """``fn(*xs)`` computed ``chunk`` examples per scan step.

  ``fn`` returns ``(per_example, total)``: arrays with the batch axis first, which are
  concatenated over the steps, and arrays summed over them (a kernel gradient).
  """
  n = xs[0].shape[0]
  if chunk >= n:
    return fn(*xs)
  steps = n // chunk
  # With several devices the batch axis may be sharded in contiguous blocks. Step s then
  # takes examples s, s + steps, s + 2 * steps, ..., so that every device holds its share of
  # every step and GSPMD partitions the loop; contiguous steps made it gather the batch onto
  # each device, several times slower. On one device the interleaving's two transposes cost
  # a noticeable share of the shallow net's update, so contiguous steps are kept there
  # (figures in results/bench/NOTES.md).
  interleave = jax.device_count() > 1

  def split(x):
    if interleave:
      return jnp.swapaxes(x[:steps * chunk].reshape((chunk, steps) + x.shape[1:]), 0, 1)
    return x[:steps * chunk].reshape((steps, chunk) + x.shape[1:])

  def join(y):
    if interleave:
      y = jnp.swapaxes(y, 0, 1)
    return y.reshape((steps * chunk,) + y.shape[2:])

  main = tuple(split(x) for x in xs)
  _, total_shape = jax.eval_shape(fn, *(x[0] for x in main))
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), total_shape)

  def step(total, chunk_xs):
    per_example, chunk_total = fn(*chunk_xs)
    return jax.tree.map(jnp.add, total, chunk_total), per_example

  total, per_example = lax.scan(step, zeros, main)
  per_example = jax.tree.map(join, per_example)
  if steps * chunk < n:
    rest, rest_total = fn(*(x[steps * chunk:] for x in xs))
    per_example = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), per_example, rest)
    total = jax.tree.map(jnp.add, total, rest_total)
  return per_example, total


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
    input_scale: multiplies the inputs after their cast to the computation dtype (1/255 for
      uint8 frames); see ``conv2d``.
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
  input_scale: float | None = None

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
    if jnp.issubdtype(inputs.dtype, jnp.integer):
      # Frames: conv2d casts them (per chunk on the matmul path) to the kernel's dtype, the
      # one flax's promotion would give them.
      dtype = self.dtype or jnp.promote_types(inputs.dtype, self.param_dtype)
      kernel, bias = nn.dtypes.promote_dtype(kernel, bias, dtype=dtype)
    else:
      inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    batch_shape = inputs.shape[:-3]
    y = conv2d(inputs.reshape((-1,) + inputs.shape[-3:]), kernel, self.strides,
               self.padding, self.implementation, input_scale=self.input_scale)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])
