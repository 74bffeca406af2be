r"""IMPALA throughput on this machine, as JSON (also written to results/bench/impala.json).

Every measured figure is measured --repeats (>= 3) times and reported as
``{"median", "min", "max", "samples"}``. For each net (shallow, deep), measured in one
process on the same threads:
  raw_env_fps       the actors' vector envs stepped with random actions
  actor_fps         envs + batched inference, nothing learning (queue drained)
  learner_fps       updates on synthetic batches, frames of data consumed per second
  e2e_fps           the full system, frames consumed by the learner per second
  e2e_over_learner  e2e_fps / learner_fps of the same repeat (the learner-alone rate bounds
                    the end-to-end rate); ``consistent`` is false when any repeat's ratio,
                    or the ratio of the medians, is above 1: then the two figures were
                    disturbed (load from other processes) and e2e_fps must not be quoted
  efficiency        e2e_fps / (1 / (1/actor_fps + 1/learner_fps)), per repeat
  learner_gflops    FLOPs of one update / its time. The FLOPs (``update_gflop``, a count,
                    not a measurement) are XLA's count for the update built with the
                    standard layers on one device: the same math, but no loop, whereas the
                    matmul path runs its convolutions in chunks under lax.scan, whose body
                    XLA's cost analysis counts only once.
  matmul_gflops     a 2048² f32 matmul in the same process (min(3 s, --seconds))
  learner_fps_standard_layers, fast_learner_speedup   the same update with flax's
                    standard conv and max-pool, and the ratio of the same repeat; the two
                    learners take turns (4 slices each of 2 x --seconds in all), so load
                    from other processes falls on both alike
Frames are Atari frames (4 per agent step). Each repeat runs in two child processes, one
with tcmalloc preloaded (``LD_PRELOAD``) and one with glibc's malloc, one right after the
other (their order alternates between repeats), so ``tcmalloc_effect`` (tcmalloc / glibc,
per repeat: ``learner_fps`` is what tcmalloc does to the default learner) compares
figures measured minutes apart at most, not one whole run against another. Ratios are
always taken within a repeat and then summarised; their median is not the ratio of the
medians. Top-level ``consistent`` is false if any net's is.

  python scripts/bench_impala.py                   # both nets, 3 repeats (~3 x 5 minutes)
  python scripts/bench_impala.py --nets=shallow --seconds=10
  python scripts/bench_impala.py --nets=shallow --seconds=1 --out=/tmp/bench.json  # smoke
"""

import json
import os
import pathlib
import subprocess
import sys

_DEVICES_FLAG = '--xla_force_host_platform_device_count'
if __name__ == '__main__' and '--child' in sys.argv:
  # The learner splits its batch over virtual CPU devices; XLA reads this at start-up.
  count = next((a.split('=')[1] for a in sys.argv if a.startswith('--learner_devices=')), '1')
  os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {_DEVICES_FLAG}={count}"

import threading  # pylint: disable=g-import-not-at-top,wrong-import-position
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

from agents.actor_critic import loss as loss_lib
from configs import impala_atari
from experiments import bench_stats
from core import types
from experiments import actor_learner as actor_learner_exp
from envs import host_registry

_NETS = flags.DEFINE_list('nets', ['shallow', 'deep'], 'Nets to measure.')
_SECONDS = flags.DEFINE_float('seconds', 20.0, 'Measuring time of each throughput figure.')
_GAME = flags.DEFINE_string('game', 'pong', 'Atari game.')
# One device by default: with the matmul path's custom VJPs, splitting the learner over
# virtual CPU devices no longer pays (figures: results/bench/NOTES.md).
_LEARNER_DEVICES = flags.DEFINE_integer('learner_devices', 1,
                                        'Virtual CPU devices the learner batch is split over.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Measurements of every figure (each in its own '
                                'pair of child processes).', lower_bound=3)
_OUT = flags.DEFINE_string('out', 'results/bench/impala.json',
                           "Where to write the JSON ('': print only).")
_TCMALLOC = flags.DEFINE_string('tcmalloc', '/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4',
                                'The tcmalloc library preloaded in the tcmalloc children.')
_CHILD = flags.DEFINE_bool('child', False, 'Measure once in this process (internal).')
_COUNT_FLOPS = flags.DEFINE_bool('count_flops', True, "Count one update's FLOPs (internal).")

ALLOCATORS = ('tcmalloc', 'no_tcmalloc')
# Measured figures, one sample per child process.
MEASURED = ('raw_env_fps', 'actor_fps', 'learner_fps', 'learner_fps_standard_layers', 'e2e_fps',
            'matmul_gflops')


def _config(net: str, implementation: str = 'auto'):
  config = impala_atari.get_config(f'game={_GAME.value}' + (',deep' if net == 'deep' else ''))
  config.agent.conv_implementation = implementation
  config.runtime.learner_devices = _LEARNER_DEVICES.value
  return config


def _frames_per_batch(config, frames_per_step):
  """Atari frames in one learner batch (the bench runs without replay: all fresh)."""
  return config.runtime.batch_size * config.runtime.unroll_length * frames_per_step


def _timed(fn, seconds):
  """Calls ``fn`` (returning frames done) until ``seconds`` pass; frames per second."""
  fn()  # warm-up (compilation)
  frames, start = 0, time.monotonic()
  while time.monotonic() - start < seconds:
    frames += fn()
  return frames / (time.monotonic() - start)


def raw_env_fps(config, seconds):
  rt = config.runtime
  envs = [host_registry.make_host(config.env.name, num_envs=rt.envs_per_actor,
                                  num_threads=rt.env_threads, **config.env.kwargs.to_dict())
          for _ in range(rt.num_actors)]
  counts = [0] * len(envs)
  stop = threading.Event()

  def run(i):
    env = envs[i]
    env.reset(i)
    rng = np.random.default_rng(i)
    while not stop.is_set():
      env.step(rng.integers(0, env.spec.num_actions, env.num_envs).astype(np.int32))
      counts[i] += env.num_envs

  threads = [threading.Thread(target=run, args=(i,)) for i in range(len(envs))]
  for t in threads:
    t.start()
  deadline = time.monotonic() + 120
  while min(counts) == 0:  # warm-up: every env has reset and stepped once
    if time.monotonic() > deadline or not all(t.is_alive() for t in threads):
      stop.set()
      raise RuntimeError('raw_env_fps: an environment thread did not start stepping')
    time.sleep(0.05)
  before, start = sum(counts), time.monotonic()
  time.sleep(seconds)
  steps = sum(counts) - before
  elapsed = time.monotonic() - start
  stop.set()
  for t in threads:
    t.join()
  for env in envs:
    env.close()
  return steps * envs[0].frames_per_step / elapsed


def actor_fps(runtime, frames_per_step, seconds):
  """Actors act and enqueue; this thread only empties the queue."""
  state = runtime.init(jax.random.PRNGKey(0))
  with runtime.start(state) as session:
    for _ in range(runtime.num_actors):  # warm-up: one unroll per actor
      session._get()  # pylint: disable=protected-access
    session.drain_actor_stats()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
      session._get()  # pylint: disable=protected-access
    steps = session.drain_actor_stats()['env_steps']
    return steps * frames_per_step / (time.monotonic() - start)


def synthetic_batch(runtime, config):
  rt = config.runtime
  T, B = rt.unroll_length, rt.batch_size
  rng = np.random.default_rng(0)
  spec = runtime.spec
  A = spec.num_actions
  params = runtime.init(jax.random.PRNGKey(0)).params
  agent_state = jax.device_get(runtime.agent.initial_state(params, None, B))
  return types.Trajectory(
      observation=rng.integers(0, 255, (T + 1, B) + spec.observation_shape, dtype=np.uint8),
      first=np.zeros((T + 1, B), bool),
      last=np.zeros((T + 1, B), bool),
      action=rng.integers(0, A, (T, B)).astype(np.int32),
      reward=rng.normal(size=(T, B)).astype(np.float32),
      discount=np.ones((T, B), np.float32),
      behaviour_extras=jax.tree.map(
          np.asarray, loss_lib.ActorExtras(
              rng.normal(size=(T, B, A)).astype(np.float32), np.zeros((T, B), np.float32),
              np.zeros((T, B), np.int32))),
      agent_state=agent_state)


def learner_fps(runtimes, config, frames_per_step, seconds, rounds=4):
  """Frames/s of learner updates on a fixed synthetic batch, one figure per runtime.

  The runtimes take turns, ``rounds`` slices of ``seconds / rounds`` each, so that load from
  other processes falls on all of them alike and their ratio stays meaningful.
  """
  batch = synthetic_batch(runtimes[0], config)
  per_update = _frames_per_batch(config, frames_per_step)
  states = [runtime.init(jax.random.PRNGKey(0)) for runtime in runtimes]

  def one(i):
    states[i], metrics = runtimes[i].update(states[i], runtimes[i].put_batch(batch))
    jax.block_until_ready(metrics['loss'])
    return per_update

  for i in range(len(runtimes)):
    one(i)  # warm-up (compilation)
  frames, elapsed = [0] * len(runtimes), [0.0] * len(runtimes)
  for _ in range(rounds):
    for i in range(len(runtimes)):
      start = time.monotonic()
      while time.monotonic() - start < seconds / rounds:
        frames[i] += one(i)
      elapsed[i] += time.monotonic() - start
  return [f / t for f, t in zip(frames, elapsed)]


def update_flops(net):
  """XLA's FLOP count of one whole learner update (see learner_gflops above)."""
  config = _config(net, 'standard')
  config.runtime.learner_devices = 1  # a partitioned program counts one device's share
  runtime, _ = actor_learner_exp.build(config)
  state = runtime.init(jax.random.PRNGKey(0))
  cost = runtime.update.lower(state, synthetic_batch(runtime, config)).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get('flops', float('nan'))) if cost else float('nan')


def e2e_fps(runtime, frames_per_step, seconds, config):
  state = runtime.init(jax.random.PRNGKey(0))
  per_update = _frames_per_batch(config, frames_per_step)
  with runtime.start(state) as session:
    for _ in range(2):
      state, metrics = session.step(state)
    jax.block_until_ready(metrics['loss'])
    updates, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
      state, metrics = session.step(state)
      updates += 1
    jax.block_until_ready(metrics['loss'])
    return updates * per_update / (time.monotonic() - start)


def matmul_gflops(seconds, n=2048):
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  jax.block_until_ready(f(a))
  count, start = 0, time.monotonic()
  while time.monotonic() - start < seconds:
    jax.block_until_ready(f(a))
    count += 1
  return 2 * n**3 * count / (time.monotonic() - start) / 1e9


def measure_net(net, seconds, count_flops):
  """One sample of every measured figure of ``net`` (plus the FLOP count if asked)."""
  config = _config(net)
  runtime, frames_per_step = actor_learner_exp.build(config)
  record = {}
  if count_flops:
    record['update_gflop'] = update_flops(net) / 1e9
  record['raw_env_fps'] = raw_env_fps(config, seconds)
  record['actor_fps'] = actor_fps(runtime, frames_per_step, seconds)
  standard, _ = actor_learner_exp.build(_config(net, 'standard'))
  # The learner alone right before the full system: e2e_over_learner compares neighbours.
  record['learner_fps'], record['learner_fps_standard_layers'] = learner_fps(
      [runtime, standard], config, frames_per_step, 2 * seconds)
  record['e2e_fps'] = e2e_fps(runtime, frames_per_step, seconds, config)
  record['matmul_gflops'] = matmul_gflops(min(seconds, 3.0))
  rt = config.runtime
  record['frames_per_update'] = _frames_per_batch(config, frames_per_step)
  record['setup'] = dict(num_actors=rt.num_actors, envs_per_actor=rt.envs_per_actor,
                         batch_size=rt.batch_size, unroll_length=rt.unroll_length,
                         env_threads=rt.env_threads, learner_devices=rt.learner_devices,
                         game=_GAME.value, devices=len(jax.devices()))
  return record


spread, _ratios = bench_stats.spread, bench_stats.ratios


def summarise_net(samples):
  """One net's figures over its repeats (``samples``: one child's record per repeat)."""
  column = {key: [s[key] for s in samples] for key in MEASURED}
  out = {key: spread(column[key]) for key in MEASURED}
  out['fast_learner_speedup'] = spread(
      _ratios(column['learner_fps'], column['learner_fps_standard_layers']))
  e2e_over_learner = _ratios(column['e2e_fps'], column['learner_fps'])
  out['e2e_over_learner'] = spread(e2e_over_learner)
  out['consistent'] = (max(e2e_over_learner) <= 1.0 and
                       out['e2e_fps']['median'] <= out['learner_fps']['median'])
  out['efficiency'] = spread(
      e * (1 / a + 1 / l)
      for e, a, l in zip(column['e2e_fps'], column['actor_fps'], column['learner_fps']))
  update_gflop = next((s['update_gflop'] for s in samples if 'update_gflop' in s), None)
  if update_gflop is not None:
    out['update_gflop'] = update_gflop
    out['learner_gflops'] = spread(update_gflop * l / s['frames_per_update']
                                   for l, s in zip(column['learner_fps'], samples))
  out['setup'] = samples[0]['setup']
  return out


def tcmalloc_effect(with_tcmalloc, without):
  """tcmalloc / glibc per repeat (the two children of a repeat ran one after the other)."""
  keys = ('learner_fps', 'learner_fps_standard_layers', 'e2e_fps', 'actor_fps')
  return {key: spread(_ratios([s[key] for s in with_tcmalloc], [s[key] for s in without]))
          for key in keys}


def _child(allocator, count_flops):
  """Runs one repeat of every net in a child process with or without tcmalloc."""
  env = dict(os.environ)
  env.pop('LD_PRELOAD', None)
  if allocator == 'tcmalloc':
    env['LD_PRELOAD'] = _TCMALLOC.value
  args = [sys.executable, __file__, '--child', f'--nets={",".join(_NETS.value)}',
          f'--seconds={_SECONDS.value}', f'--game={_GAME.value}',
          f'--learner_devices={_LEARNER_DEVICES.value}', f'--count_flops={count_flops}']
  proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
  if proc.returncode:
    raise RuntimeError(f'bench child ({allocator}) failed:\n{proc.stderr[-3000:]}')
  return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  if _CHILD.value:
    print(json.dumps({net: measure_net(net, _SECONDS.value, _COUNT_FLOPS.value)
                      for net in _NETS.value}))
    return
  allocators = list(ALLOCATORS)
  absent = None
  if not os.path.exists(_TCMALLOC.value):
    absent = f'not measured: {_TCMALLOC.value} is absent (apt-get install libtcmalloc-minimal4)'
    allocators.remove('tcmalloc')
  samples = {a: [] for a in allocators}  # allocator -> one child's record per repeat
  for repeat in range(_REPEATS.value):
    order = allocators if repeat % 2 == 0 else allocators[::-1]
    for allocator in order:
      print(f'repeat {repeat + 1}/{_REPEATS.value}: {allocator}', file=sys.stderr, flush=True)
      samples[allocator].append(_child(allocator, count_flops=repeat == 0))

  results = {'repeats': _REPEATS.value, 'seconds': _SECONDS.value}
  for allocator in ALLOCATORS:
    if allocator not in samples:
      results[allocator] = absent
      continue
    results[allocator] = {net: summarise_net([s[net] for s in samples[allocator]])
                          for net in _NETS.value}
  if absent is None:
    results['tcmalloc_effect'] = {
        net: tcmalloc_effect([s[net] for s in samples['tcmalloc']],
                             [s[net] for s in samples['no_tcmalloc']])
        for net in _NETS.value}
  else:
    results['tcmalloc_effect'] = absent
  results['consistent'] = all(results[a][net]['consistent']
                              for a in allocators for net in _NETS.value)
  if not results['consistent']:
    print('warning: an end-to-end rate exceeds the learner-alone rate of the same repeat '
          '(consistent: false); do not quote e2e_fps from this run', file=sys.stderr)
  text = json.dumps(results, indent=2)
  print(text)
  if _OUT.value:
    out = pathlib.Path(_OUT.value)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + '\n')


if __name__ == '__main__':
  app.run(main)
