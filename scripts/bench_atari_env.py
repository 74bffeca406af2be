"""Throughput of Atari environments alone: ale-py's vector env and our adapter over it.

  python scripts/bench_atari_env.py [--game=pong] [--num_envs=32] [--num_threads=2]
      [--steps=500] [--out=results/bench/atari_env_pong.json]

Plays uniformly random actions (no agent) and prints one JSON object:

  raw_env_steps_per_s        agent steps/s of ``ale_py.vector_env.AtariVectorEnv`` alone
  frames_per_s               the same in emulator frames (x frameskip 4)
  adapter_env_steps_per_s    agent steps/s of ``envs.atari.AtariVectorEnv`` (ale-py plus
                             the channels-last copy and the life/score bookkeeping)
  transpose_s_per_step       seconds per batch for the channels-last copy the adapter uses
  naive_transpose_s_per_step the same with ``np.ascontiguousarray(obs.transpose(...))``
  transpose_fraction         transpose_s_per_step / (seconds per raw batch step)

Both environments are measured in the same run, in alternating blocks of steps, and so
are both transposes. The numbers depend on the game and on how many cores the emulator
threads get (``cpu_count`` is recorded); on a shared machine, run it a few times.
"""

import json
import os
import time

from absl import app
from absl import flags
import ale_py
from ale_py import vector_env
import numpy as np

from envs import atari

_GAME = flags.DEFINE_string('game', 'pong', 'ale-py game name.')
_NUM_ENVS = flags.DEFINE_integer('num_envs', 32, 'Environments per vector env.')
_NUM_THREADS = flags.DEFINE_integer('num_threads', 2, 'ale-py worker threads.')
_STEPS = flags.DEFINE_integer('steps', 500, 'Timed batch steps per measurement.')
_WARMUP = flags.DEFINE_integer('warmup', 50, 'Untimed batch steps before timing.')
_OUT = flags.DEFINE_string(
    'out', 'results/bench/atari_env_{game}.json', 'Where to write the JSON ("" skips).')


def _time_steps(step, actions):
  start = time.perf_counter()
  for a in actions:
    step(a)
  return time.perf_counter() - start


def _time_call(fn, arg, repeats):
  fn(arg)
  start = time.perf_counter()
  for _ in range(repeats):
    fn(arg)
  return (time.perf_counter() - start) / repeats


def measure(*, game: str, num_envs: int, num_threads: int, steps: int,
            warmup: int = 50, seed: int = 0) -> dict:
  """Measures both environments and both transposes; returns the JSON fields."""
  frameskip = 4
  blocks = 10
  with atari.AtariVectorEnv(game=game, num_envs=num_envs, num_threads=num_threads,
                            frameskip=frameskip) as env:
    actions = np.random.default_rng(seed).integers(
        0, env.spec.num_actions, (warmup + steps, num_envs)).astype(np.int32)
    # Same settings as the adapter passes to ale-py, minus the adapter.
    raw = vector_env.AtariVectorEnv(
        game, num_envs, num_threads=num_threads, frameskip=frameskip,
        autoreset_mode='SameStep', reward_clipping=False, use_fire_reset=False)
    env.reset(seed=seed)
    raw.reset(seed=seed)
    _time_steps(env.step, actions[:warmup])
    _time_steps(raw.step, actions[:warmup])
    # Alternating blocks, so that load from elsewhere on the machine and the games'
    # phases weigh on both alike.
    adapter_s = raw_s = 0.0
    for block in np.array_split(actions[warmup:], blocks):
      adapter_s += _time_steps(env.step, block)
      raw_s += _time_steps(raw.step, block)
    obs = raw.step(actions[0])[0]
    raw.close()

    repeats = 200
    # The adapter's own copy, timed apart from the emulators.
    transpose_s = _time_call(
        env._channels_last, obs, repeats)  # pylint: disable=protected-access
    naive_s = _time_call(
        lambda o: np.ascontiguousarray(o.transpose(0, 2, 3, 1)), obs, repeats)

  raw_steps_per_s = num_envs * steps / raw_s
  return {
      'game': game,
      'num_envs': num_envs,
      'num_threads': num_threads,
      'steps': steps,
      'cpu_count': os.cpu_count(),
      'ale_py': ale_py.__version__,
      'raw_env_steps_per_s': round(raw_steps_per_s, 1),
      'frames_per_s': round(raw_steps_per_s * frameskip, 1),
      'adapter_env_steps_per_s': round(num_envs * steps / adapter_s, 1),
      'transpose_s_per_step': transpose_s,
      'naive_transpose_s_per_step': naive_s,
      'transpose_fraction': round(transpose_s / (raw_s / steps), 4),
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  result = measure(game=_GAME.value, num_envs=_NUM_ENVS.value,
                   num_threads=_NUM_THREADS.value, steps=_STEPS.value,
                   warmup=_WARMUP.value)
  text = json.dumps(result)
  print(text)
  if _OUT.value:
    path = _OUT.value.format(game=_GAME.value)
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  app.run(main)
