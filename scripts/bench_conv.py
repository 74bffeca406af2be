r"""Times an IMPALA torso's update with the standard and the matmul convolution.

  python scripts/bench_conv.py                        # batch 640 (= T 20 x B 32) for both nets
  python scripts/bench_conv.py --deep_batch=128 --repeats=3
  python scripts/bench_conv.py --batch=32 --deep_batch=32   # small batches: what auto picks
  RECURRAX_TCMALLOC=0 python scripts/bench_conv.py    # with glibc's malloc instead

Prints one JSON object: for the shallow net (8x8/4 and 4x4/2 convolutions) and the deep net
(three sections of 3x3 convolutions, a 3x3/2 max-pool and two residual blocks), the median
time of one jitted gradient of a loss w.r.t. the parameters from uint8 84x84x4 frames, per
implementation ('auto': what it resolves to at that batch: below MATMUL_MIN_BATCH the deep
net's convolutions and pools are XLA's own); the useful GFLOP/s (forward,
kernel gradients, and input gradients of all but the first layer); ``speedup`` = standard
time / matmul time, ``auto_speedup`` = standard time / auto time; and, from the same process,
the GFLOP/s of a 2048x2048 float32 matrix multiply as the machine's yardstick. Both
implementations are timed in alternation, so load from other processes hits both alike;
compare numbers only within one output. Like the training scripts, it preloads tcmalloc
where installed (``tcmalloc`` in the output says whether): the standard layers' gradients
allocate large temporary buffers, which glibc's malloc handles slowly.
"""

from experiments import launch  # pylint: disable=g-bad-import-order

if __name__ == '__main__':
  launch.preload_tcmalloc()  # before JAX starts; see experiments/launch.py

import json  # pylint: disable=g-import-not-at-top,wrong-import-position
import os
import statistics
import time

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from core.nn import conv
from core.nn import implementation as implementation_lib
from core.nn import max_pool

_BATCH = flags.DEFINE_integer('batch', 640, 'Batch of the shallow net.')
_DEEP_BATCH = flags.DEFINE_integer('deep_batch', 640, 'Batch of the deep net.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed calls per implementation.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed calls per implementation first.')

FRAME_SHAPE = (84, 84, 4)
IMPLEMENTATIONS = ('standard', 'matmul', 'auto')


class ShallowTorso(nn.Module):
  """IMPALA's shallow torso: two strided convolutions and a dense layer."""
  implementation: str = 'auto'

  @nn.compact
  def __call__(self, x):
    x = nn.relu(conv.Conv(16, (8, 8), (4, 4), 'VALID', implementation=self.implementation)(x))
    x = nn.relu(conv.Conv(32, (4, 4), (2, 2), 'VALID', implementation=self.implementation)(x))
    return nn.relu(nn.Dense(256)(x.reshape(x.shape[0], -1)))


class DeepTorso(nn.Module):
  """IMPALA's deep torso: sections of convolution, max-pool and two residual blocks."""
  implementation: str = 'auto'

  @nn.compact
  def __call__(self, x):
    impl = self.implementation
    for channels in (16, 32, 32):
      x = conv.Conv(channels, (3, 3), implementation=impl)(x)
      x = max_pool.max_pool(x, (3, 3), (2, 2), 'SAME', implementation=impl)
      for _ in range(2):
        y = conv.Conv(channels, (3, 3), implementation=impl)(nn.relu(x))
        x = x + conv.Conv(channels, (3, 3), implementation=impl)(nn.relu(y))
    x = nn.relu(x)
    return nn.relu(nn.Dense(256)(x.reshape(x.shape[0], -1)))


def make_update(torso: nn.Module):
  """A jitted gradient of a loss on the torso's output w.r.t. its parameters."""
  def loss(params, frames):
    out = torso.apply(params, frames.astype(jnp.float32) / 255.0)
    return jnp.mean(jnp.sum(out * out, axis=-1))
  return jax.jit(jax.grad(loss))


def update_flops(torso: nn.Module, params, frames) -> float:
  """Useful FLOPs of one update: forward, kernel gradients, input gradients after layer 1."""
  jaxpr = jax.make_jaxpr(lambda p, x: torso.apply(p, x.astype(jnp.float32)))(params, frames)
  layers = []
  for eqn in jaxpr.eqns:
    _collect_layer_flops(eqn, layers)
  return 3.0 * sum(layers) - layers[0]


def _collect_layer_flops(eqn, layers):
  """Appends 2 * MACs of each convolution and dense product in ``eqn``, recursively."""
  for value in eqn.params.values():  # Descend into pjit and other nested jaxprs.
    inner = getattr(value, 'jaxpr', value)
    if hasattr(inner, 'eqns'):
      for sub in inner.eqns:
        _collect_layer_flops(sub, layers)
  name = eqn.primitive.name
  if name == 'conv_general_dilated':
    out = eqn.outvars[0].aval.shape
    kernel = eqn.invars[1].aval.shape
    layers.append(2.0 * np.prod(out) * np.prod(kernel) / out[-1])
  elif name == 'dot_general':
    (lhs_contract, _), _ = eqn.params['dimension_numbers']
    lhs = eqn.invars[0].aval.shape
    out = eqn.outvars[0].aval.shape
    layers.append(2.0 * np.prod(out) * np.prod([lhs[d] for d in lhs_contract]))


def time_alternating(fns: dict, args, repeats: int, warmup: int) -> dict:
  """Median seconds per call of each function, the functions called in turn each repeat."""
  for fn in fns.values():
    for _ in range(warmup):
      jax.block_until_ready(fn(*args))
  times = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(ts) for name, ts in times.items()}


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
  seconds = time_alternating({'dot': jax.jit(jnp.dot)}, (a, a), repeats, warmup=2)['dot']
  return 2.0 * size**3 / seconds / 1e9


def bench_torso(torso_cls, batch: int, repeats: int, warmup: int) -> dict:
  """Times one update of ``torso_cls`` per implementation; returns the JSON record."""
  frames = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch,) + FRAME_SHAPE),
                       jnp.uint8)
  torsos = {impl: torso_cls(implementation=impl) for impl in IMPLEMENTATIONS}
  params = jax.jit(torsos['standard'].init)(jax.random.PRNGKey(0),
                                            frames[:1].astype(jnp.float32))
  flops = update_flops(torsos['standard'], params, frames)
  seconds = time_alternating({impl: make_update(t) for impl, t in torsos.items()},
                             (params, frames), repeats, warmup)
  record = {'batch': batch, 'update_gflop': round(flops / 1e9, 2)}
  for impl in IMPLEMENTATIONS:
    record[f'{impl}_ms'] = round(seconds[impl] * 1e3, 1)
    record[f'{impl}_gflops'] = round(flops / seconds[impl] / 1e9, 1)
  record['speedup'] = round(seconds['standard'] / seconds['matmul'], 2)
  record['auto_speedup'] = round(seconds['standard'] / seconds['auto'], 2)
  return record


def benchmark(batch: int, deep_batch: int, repeats: int, warmup: int) -> dict:
  """The whole report as a dict (what ``main`` prints)."""
  return {
      'jax': jax.__version__,
      'backend': jax.default_backend(),
      'auto_picks': implementation_lib.resolve_implementation('auto'),
      'cpu_count': os.cpu_count(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'tcmalloc': 'tcmalloc' in os.environ.get('LD_PRELOAD', ''),
      'repeats': repeats,
      'matmul_2048_gflops': round(matmul_gflops(), 1),
      'shallow': bench_torso(ShallowTorso, batch, repeats, warmup),
      'deep': bench_torso(DeepTorso, deep_batch, repeats, warmup),
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  print(json.dumps(benchmark(_BATCH.value, _DEEP_BATCH.value, _REPEATS.value, _WARMUP.value),
                   indent=2))


if __name__ == '__main__':
  app.run(main)
