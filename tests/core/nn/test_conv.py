"""Tests of core/nn/conv.py: the matmul convolution equals flax's, values and gradients."""

import importlib.util
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core.nn import conv
from core.nn import implementation as implementation_lib

ROOT = pathlib.Path(__file__).resolve().parents[3]

# (name, input shape, features, kernel, strides, padding).
CONV_CASES = [
    ('shallow_8x8_s4', (2, 84, 84, 4), 16, (8, 8), (4, 4), 'VALID'),
    ('shallow_4x4_s2', (2, 20, 20, 16), 32, (4, 4), (2, 2), 'VALID'),
    ('deep_84', (1, 84, 84, 4), 16, (3, 3), (1, 1), 'SAME'),
    ('deep_42', (2, 42, 42, 16), 32, (3, 3), (1, 1), 'SAME'),
    ('deep_21', (2, 21, 21, 32), 32, (3, 3), (1, 1), 'SAME'),
    ('stride3_same_k4', (3, 13, 10, 3), 5, (4, 4), (3, 3), 'SAME'),
    ('stride3_valid_odd', (2, 12, 9, 3), 4, (3, 3), (3, 3), 'VALID'),
    ('even_kernel_same', (2, 9, 14, 2), 3, (4, 4), (1, 1), 'SAME'),
    ('non_square', (2, 10, 11, 3), 4, (2, 5), (2, 1), 'SAME'),
    ('stride_over_kernel', (2, 7, 8, 3), 2, (1, 1), (2, 2), 'SAME'),
]

@pytest.mark.parametrize('case', CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_matches_flax(case, nnt):
  _, shape, features, kernel_size, strides, padding = case
  x = nnt.normal(0, shape)
  reference = nn.Conv(features, kernel_size, strides, padding=padding)
  # A non-zero bias, so the bias is checked in the values too.
  params = {'params': {'kernel': nnt.normal(1, kernel_size + (shape[-1], features)),
                       'bias': nnt.normal(2, (features,))}}
  cotangent = nnt.normal(3, jax.eval_shape(reference.apply, params, x).shape)
  apply_fns = {'flax': reference.apply}
  for implementation in ('standard', 'matmul'):
    apply_fns[implementation] = conv.Conv(features, kernel_size, strides, padding,
                                          implementation=implementation).apply
  results = nnt.outputs_and_grads(apply_fns, params, x, cotangent)

  (grad_params_ref, grad_x_ref), y_ref = results.pop('flax')
  for (grad_params, grad_x), y in results.values():
    nnt.assert_close(y, y_ref)
    nnt.assert_close(grad_x, grad_x_ref)
    nnt.assert_close(grad_params['params']['kernel'], grad_params_ref['params']['kernel'])
    nnt.assert_close(grad_params['params']['bias'], grad_params_ref['params']['bias'])


@pytest.mark.parametrize('case', CONV_CASES[:4:3], ids=[c[0] for c in CONV_CASES[:4:3]])
def test_params_equal_flax_conv(case):
  _, shape, features, kernel_size, strides, padding = case
  x = jnp.zeros(shape)
  key = jax.random.PRNGKey(3)
  ours = jax.jit(conv.Conv(features, kernel_size, strides, padding).init)(key, x)
  flax_params = jax.jit(nn.Conv(features, kernel_size, strides, padding=padding).init)(key, x)
  assert jax.tree.structure(ours) == jax.tree.structure(flax_params)
  assert ours['params']['kernel'].shape == kernel_size + (shape[-1], features)
  assert ours['params']['bias'].shape == (features,)
  jax.tree.map(np.testing.assert_array_equal, ours, flax_params)


# Chunks of 4 and a remainder of 3; 2 steps of 2; 2 steps of 3 (the largest divisor <= 4).
@pytest.mark.parametrize('batch, chunk_images', [(7, 4), (4, 2), (6, 4)])
def test_matmul_batch_chunks_match_standard(batch, chunk_images, nnt):
  """Scanning the batch in chunks (with a remainder or without) changes no number."""
  x = nnt.normal(0, (batch, 20, 20, 16))
  kernel = nnt.normal(1, (4, 4, 16, 8))
  # Shift-and-add (8 output channels < 4 x 16 per block): products per image are
  # 10 x 10 blocks x 2 x 2 offsets x 8 channels x 4 bytes, as is the shifted cotangent.
  chunk_bytes = chunk_images * 10 * 10 * 4 * 8 * 4
  cotangent = nnt.normal(2, (batch, 9, 9, 8))

  apply_fns = {
      impl: lambda kernel, x, impl=impl: conv.conv2d(x, kernel, (2, 2), 'VALID', impl,
                                                     chunk_bytes=chunk_bytes)
      for impl in ('standard', 'matmul')}
  results = nnt.outputs_and_grads(apply_fns, kernel, x, cotangent)
  (dkernel, dx), y = results['matmul']
  (dkernel_ref, dx_ref), y_ref = results['standard']
  nnt.assert_close(y, y_ref)
  nnt.assert_close(dx, dx_ref)
  nnt.assert_close(dkernel, dkernel_ref)


_SHARDED_GRAD = """
import json
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from core.nn import conv
mesh = Mesh(np.array(jax.devices()), ('data',))
rng = np.random.default_rng(0)
x = jax.device_put(jnp.asarray(rng.standard_normal((16, 10, 10, 4)), jnp.float32),
                   NamedSharding(mesh, PartitionSpec('data')))
kernel = jnp.asarray(rng.standard_normal((3, 3, 4, 4)), jnp.float32)
def grads(implementation):
  def loss(kernel, x):  # 4 images per scan step (the 12 x 12 x 36 shifted cotangent): 4 of 4.
    y = conv.conv2d(x, kernel, (1, 1), 'SAME', implementation, chunk_bytes=4 * 144 * 36 * 4)
    return jnp.sum(y * y)
  return jax.jit(jax.grad(loss, (0, 1)))
hlo = grads('matmul').lower(kernel, x).compile().as_text()
errors = [float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
          for a, b in zip(grads('matmul')(kernel, x), grads('standard')(kernel, x))]
print(json.dumps({'while': 'while' in hlo, 'all_gather': 'all-gather' in hlo,
                  'errors': errors}))
"""


def test_matmul_batch_chunks_stay_partitioned_over_a_sharded_batch(run_on_virtual_cpus):
  """With the batch sharded, every device runs its share of every scan step: no gathering."""
  out = run_on_virtual_cpus(_SHARDED_GRAD, devices=4, timeout_s=120)
  assert out['while']  # The scan over chunks is there...
  assert not out['all_gather']  # ...and runs on each device's own examples...
  assert max(out['errors']) < 1e-4  # ...to the standard convolution's gradients.


def test_uint8_frames_and_leading_batch_axes_match_flax(nnt):
  frames = jnp.asarray(np.random.default_rng(0).integers(0, 256, (3, 2, 24, 28, 4)), jnp.uint8)
  params = {'params': {'kernel': nnt.normal(1, (8, 8, 4, 16)), 'bias': nnt.normal(2, (16,))}}
  y_ref = jax.jit(nn.Conv(16, (8, 8), (4, 4), padding='VALID').apply)(params, frames)
  y = jax.jit(conv.Conv(16, (8, 8), (4, 4), 'VALID', implementation='matmul').apply)(
      params, frames)
  assert y.dtype == y_ref.dtype == jnp.float32
  assert y.shape == (3, 2, 5, 6, 16)
  nnt.assert_close(y, y_ref)


@pytest.mark.parametrize('case', CONV_CASES[:3:2], ids=[c[0] for c in CONV_CASES[:3:2]])
def test_scaled_uint8_frames_match_flax_on_float_frames(case, nnt):
  """input_scale: cast and scaled per chunk (3 images per scan step), values and kernel grads
  equal flax's convolution of the whole batch cast to float32 and scaled first."""
  _, shape, features, kernel_size, strides, padding = case
  shape = (7,) + shape[1:]
  frames = jnp.asarray(np.random.default_rng(0).integers(0, 256, shape), jnp.uint8)
  params = {'params': {'kernel': nnt.normal(1, kernel_size + (shape[-1], features)),
                       'bias': nnt.normal(2, (features,))}}
  scale = 1 / 255
  reference = nn.Conv(features, kernel_size, strides, padding=padding)
  y_shape = jax.eval_shape(reference.apply, params, frames.astype(jnp.float32)).shape
  cotangent = nnt.normal(3, y_shape)

  def loss_ref(params):
    return jnp.sum(reference.apply(params, frames.astype(jnp.float32) * scale) * cotangent)

  results = {}
  for implementation in ('standard', 'matmul'):
    def loss(params, implementation=implementation):
      module = conv.Conv(features, kernel_size, strides, padding,
                         implementation=implementation, input_scale=scale)
      return jnp.sum(module.apply(params, frames) * cotangent)
    results[implementation] = jax.jit(jax.value_and_grad(loss))(params)
  value_ref, grads_ref = jax.jit(jax.value_and_grad(loss_ref))(params)
  per_image = 3 * np.prod(y_shape[1:]) * 64  # Comfortably several images' intermediates...
  chunked = jax.jit(jax.grad(lambda kernel: jnp.sum(conv.conv2d(
      frames, kernel, strides, padding, 'matmul', input_scale=scale,
      chunk_bytes=int(per_image) // 20) * cotangent)))(params['params']['kernel'])
  for value, grads in results.values():
    nnt.assert_close(value, value_ref)
    nnt.assert_close(grads['params']['kernel'], grads_ref['params']['kernel'])
    nnt.assert_close(grads['params']['bias'], grads_ref['params']['bias'])
  nnt.assert_close(chunked, grads_ref['params']['kernel'])  # ...cut to a few per step.


def test_frames_get_no_input_gradient(nnt):
  """Only the kernel gradient is built for integer frames: the backward pass has one matrix
  multiply (blocks^T shifted), not a second one for the blocks' gradient."""
  frames = jnp.zeros((4, 84, 84, 4), jnp.uint8)
  kernel = nnt.normal(0, (8, 8, 4, 16))
  grad = jax.value_and_grad(lambda k: jnp.sum(conv.conv2d(frames, k, 4, 'VALID', 'matmul',
                                                          input_scale=1 / 255)))
  float_grad = jax.value_and_grad(
      lambda k, x: jnp.sum(conv.conv2d(x, k, 4, 'VALID', 'matmul')), (0, 1))

  def dots(fn, *args):
    return jax.jit(fn).lower(*args).as_text().count('dot_general')

  # Forward: one; backward: one for frames, two for differentiated float inputs.
  assert dots(grad, kernel) == 2
  assert dots(float_grad, kernel, frames.astype(jnp.float32)) == 3


def test_float32_stays_float32():
  x = jax.ShapeDtypeStruct((2, 9, 9, 3), jnp.float32)
  module = conv.Conv(4, (3, 3), implementation='matmul')
  params = jax.eval_shape(module.init, jax.random.PRNGKey(0), x)
  assert jax.eval_shape(module.apply, params, x).dtype == jnp.float32


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='auto is matmul on CPU only')
def test_auto_gives_small_batches_the_matmul_path_for_shift_and_add_only(nnt):
  frames = jax.ShapeDtypeStruct((2, 84, 84, 4), jnp.uint8)
  def primitives(features, kernel_size, strides):
    kernel = jax.ShapeDtypeStruct(kernel_size + (4, features), jnp.float32)
    return nnt.primitives(jax.make_jaxpr(
        lambda x, k: conv.conv2d(x, k, strides, 'VALID', 'auto'))(frames, kernel).jaxpr)
  # The shallow net's first layer: 16 outputs < 4 x 4 x 4 channels per block.
  assert 'conv_general_dilated' not in primitives(16, (8, 8), (4, 4))
  # A stride-1 3x3 convolution (im2col-shaped) stays on XLA's below MATMUL_MIN_BATCH.
  assert 'conv_general_dilated' in primitives(16, (3, 3), (1, 1))


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='auto is matmul on CPU only')
def test_auto_on_cpu_traces_no_convolution(nnt):
  x = jax.ShapeDtypeStruct((implementation_lib.MATMUL_MIN_BATCH, 21, 21, 8), jnp.float32)

  def layer(implementation):
    module = conv.Conv(8, (3, 3), implementation=implementation)
    params = jax.eval_shape(module.init, jax.random.PRNGKey(0), x)
    def loss(params, x):
      return jnp.sum(module.apply(params, x))
    return jax.make_jaxpr(jax.value_and_grad(loss))(params, x).jaxpr

  auto, standard = nnt.primitives(layer('auto')), nnt.primitives(layer('standard'))
  assert 'conv_general_dilated' in standard
  assert 'conv_general_dilated' not in auto
  assert 'dot_general' in auto


def test_bad_arguments_raise_clear_errors():
  x = jnp.zeros((1, 8, 8, 3))
  with pytest.raises(ValueError, match='padding'):
    conv.conv2d(x, jnp.zeros((3, 3, 3, 4)), (1, 1), 'CIRCULAR')
  with pytest.raises(ValueError, match='channels'):
    conv.conv2d(x, jnp.zeros((3, 3, 2, 4)))
  with pytest.raises(ValueError, match='does not fit'):
    conv.conv2d(x, jnp.zeros((9, 9, 3, 4)), padding='VALID')
  with pytest.raises(ValueError, match='kernel_size'):
    conv.Conv(4, 3).init(jax.random.PRNGKey(0), x)


def test_bench_script_counts_useful_flops():
  spec = importlib.util.spec_from_file_location('bench_conv', ROOT / 'scripts' / 'bench_conv.py')
  bench = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(bench)
  frames = jax.ShapeDtypeStruct((2,) + bench.FRAME_SHAPE, jnp.uint8)
  torso = bench.ShallowTorso(implementation='standard')
  params = jax.eval_shape(torso.init, jax.random.PRNGKey(0), frames)
  # Forward MACs x 2: conv 20*20 outputs x 8*8*4 taps x 16, conv 9*9 x 4*4*16 x 32, dense.
  forward = [2 * 2 * 400 * 256 * 16, 2 * 2 * 81 * 256 * 32, 2 * 2 * 2592 * 256]
  assert bench.update_flops(torso, params, frames) == 3 * sum(forward) - forward[0]
