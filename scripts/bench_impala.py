r"""IMPALA throughput on this machine, as JSON (also written to results/bench/impala.json).

For each net (shallow, deep), measured in one process on the same threads:
  raw_env_fps       the actors' vector envs stepped with random actions
  actor_fps         envs + batched inference, nothing learning (queue drained)
  learner_fps       updates on synthetic batches, frames of data consumed per second
  e2e_fps           the full system, frames consumed by the learner per second
  efficiency        e2e_fps / (1 / (1/actor_fps + 1/learner_fps))
  learner_gflops    FLOPs of one update / its time. The FLOPs are XLA's count for the
                    update built with the standard layers on one device: the same math,
                    but no loop, whereas the matmul path runs its convolutions in chunks
                    under lax.scan, whose body XLA's cost analysis counts only once.
  matmul_gflops     a 2048² f32 matmul in the same run
  learner_fps_standard_layers, fast_learner_speedup   the same update with flax's
                    standard conv and max-pool, and the ratio; the two learners take
                    turns (4 slices each of 2 x --seconds in all), so load from other
                    processes falls on both alike
Frames are Atari frames (4 per agent step). The whole measurement runs twice, with and
without tcmalloc preloaded (``LD_PRELOAD``), in child processes.

  python scripts/bench_impala.py                   # both nets, ~5 minutes
  python scripts/bench_impala.py --nets=shallow --seconds=10
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

import queue  # pylint: disable=g-import-not-at-top,wrong-import-position
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

from agents.actor_critic import agent as agent_lib
from agents.actor_critic import loss as loss_lib
from configs import impala_atari
from core import types
from core.runtime import actor_learner
from core.runtime import actor_learner_train
from envs import host_registry

_NETS = flags.DEFINE_list('nets', ['shallow', 'deep'], 'Nets to measure.')
_SECONDS = flags.DEFINE_float('seconds', 20.0, 'Measuring time of each throughput figure.')
_GAME = flags.DEFINE_string('game', 'pong', 'Atari game.')
# One device: since the matmul path's custom VJPs (session 7, quiet machine) the shallow
# learner ran 42.6k frames/s on one device against 23.4k split over two (standard layers
# 18.3k against 11.1k); the split only paid while XLA's own conv gradients were the cost.
_LEARNER_DEVICES = flags.DEFINE_integer('learner_devices', 1,
                                        'Virtual CPU devices the learner batch is split over.')
_OUT = flags.DEFINE_string('out', 'results/bench/impala.json', 'Where to write the JSON.')
_CHILD = flags.DEFINE_bool('child', False, 'Measure in this process (internal).')

TCMALLOC = '/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4'


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
  agent_state = jax.device_get(runtime.agent.initial_state(B))
  return types.Trajectory(
      observation=rng.integers(0, 255, (T + 1, B) + spec.observation_shape, dtype=np.uint8),
      first=np.zeros((T + 1, B), bool),
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
  runtime, _ = actor_learner_train.build(config, agent_lib.make_agent)
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


def matmul_gflops(seconds=3.0, n=2048):
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  jax.block_until_ready(f(a))
  count, start = 0, time.monotonic()
  while time.monotonic() - start < seconds:
    jax.block_until_ready(f(a))
    count += 1
  return 2 * n**3 * count / (time.monotonic() - start) / 1e9


def measure_net(net, seconds):
  config = _config(net)
  runtime, frames_per_step = actor_learner_train.build(config, agent_lib.make_agent)
  record = {'raw_env_fps': raw_env_fps(config, seconds)}
  record['actor_fps'] = actor_fps(runtime, frames_per_step, seconds)
  standard, _ = actor_learner_train.build(_config(net, 'standard'), agent_lib.make_agent)
  record['learner_fps'], record['learner_fps_standard_layers'] = learner_fps(
      [runtime, standard], config, frames_per_step, 2 * seconds)
  per_update = _frames_per_batch(config, frames_per_step)
  record['update_gflop'] = update_flops(net) / 1e9
  record['learner_gflops'] = record['update_gflop'] * record['learner_fps'] / per_update
  record['fast_learner_speedup'] = record['learner_fps'] / record['learner_fps_standard_layers']
  record['e2e_fps'] = e2e_fps(runtime, frames_per_step, seconds, config)
  record['efficiency'] = record['e2e_fps'] * (1 / record['actor_fps'] + 1 / record['learner_fps'])
  record['matmul_gflops'] = matmul_gflops()
  rt = config.runtime
  record['setup'] = dict(num_actors=rt.num_actors, envs_per_actor=rt.envs_per_actor,
                         batch_size=rt.batch_size, unroll_length=rt.unroll_length,
                         env_threads=rt.env_threads, learner_devices=rt.learner_devices,
                         game=_GAME.value, devices=len(jax.devices()))
  return record


def main(argv):
  del argv
  if _CHILD.value:
    print(json.dumps({net: measure_net(net, _SECONDS.value) for net in _NETS.value}))
    return
  results = {}
  variants = [('tcmalloc', True), ('no_tcmalloc', False)]
  for name, preload in variants:
    if preload and not os.path.exists(TCMALLOC):
      results[name] = f'not measured: {TCMALLOC} is absent (apt-get install libtcmalloc-minimal4)'
      continue
    env = dict(os.environ)
    env.pop('LD_PRELOAD', None)
    if preload:
      env['LD_PRELOAD'] = TCMALLOC
    args = [sys.executable, __file__, '--child', f'--nets={",".join(_NETS.value)}',
            f'--seconds={_SECONDS.value}', f'--game={_GAME.value}',
            f'--learner_devices={_LEARNER_DEVICES.value}']
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
      raise RuntimeError(f'bench child ({name}) failed:\n{proc.stderr[-3000:]}')
    results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
  text = json.dumps(results, indent=2)
  print(text)
  if _OUT.value:
    out = pathlib.Path(_OUT.value)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + '\n')


if __name__ == '__main__':
  app.run(main)
