"""Tests of the actor-learner runtime on host environments: learning, failure, lag, stop."""

import pathlib
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

from agents.actor_critic import agent as agent_lib
from configs import actor_critic as configs
from core.runtime import actor_learner
from core.runtime import actor_learner_train
from core import metrics as metrics_lib

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _runtime(config, make_env=None):
  runtime, _ = actor_learner_train.build(config, agent_lib.make_agent)
  if make_env is not None:
    runtime.make_env = make_env
  return runtime


def _actor_threads():
  return [t for t in threading.enumerate() if t.name.startswith('actor-')]


def test_learns_cartpole_from_host_environments(tmp_path):
  config = configs.get_config('cartpole_host')
  config.log_interval_s = 1.0
  result = actor_learner_train.train(config, tmp_path, agent_lib.make_agent,
                                     print_fn=lambda s: None)
  records = metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')
  returns = [r['episode_return'] for r in records if 'episode_return' in r]
  assert result.train_return >= config.target_return, returns
  assert result.train_return > 2 * returns[0], returns  # it learned, from near random
  for key in ('env_fps', 'learner_steps_per_s', 'learner_wait_fraction', 'queue_fill',
              'policy_lag', 'actor_queue_wait_s'):
    assert key in records[-1]
  assert not _actor_threads()


class _FailingEnv:
  """Wraps a host env; its step raises after ``fail_after`` calls."""

  def __init__(self, env, fail_after):
    self._env, self._left = env, fail_after
    self.num_envs, self.spec = env.num_envs, env.spec

  def reset(self, seed):
    return self._env.reset(seed)

  def step(self, actions):
    self._left -= 1
    if self._left < 0:
      raise RuntimeError('emulator on fire')
    return self._env.step(actions)

  def close(self):
    self._env.close()


def test_actor_failure_ends_the_run_with_its_error_within_seconds():
  config = configs.get_config('cartpole_host')
  runtime = _runtime(config)
  make_env = runtime.make_env
  runtime.make_env = lambda i: _FailingEnv(make_env(i), 50 if i == 1 else 10**9)
  state = runtime.init(jax.random.PRNGKey(0))
  start = time.monotonic()
  with pytest.raises(actor_learner.ActorError, match='emulator on fire') as info:
    with runtime.start(state) as session:
      for _ in range(10_000):
        state, _ = session.step(state)
  assert isinstance(info.value.__cause__, RuntimeError)
  assert time.monotonic() - start < 30
  assert not _actor_threads()


def test_policy_lag_stays_bounded():
  config = configs.get_config('cartpole_host')
  runtime = _runtime(config)
  state = runtime.init(jax.random.PRNGKey(0))
  lags = []
  with runtime.start(state) as session:
    for _ in range(40):
      state, metrics = session.step(state)
      lags.append(metrics['policy_lag_max'])
  # An unroll waits behind at most the queue's items and one per actor.
  bound = (runtime.queue_capacity + runtime.num_actors) // runtime.unrolls_per_batch + 2
  assert max(lags) <= bound
  assert int(state.update) == 40


def test_interrupt_stops_actors_cleanly():
  runtime = _runtime(configs.get_config('cartpole_host'))
  state = runtime.init(jax.random.PRNGKey(0))
  with pytest.raises(KeyboardInterrupt):
    with runtime.start(state) as session:
      state, _ = session.step(state)
      raise KeyboardInterrupt
  assert not _actor_threads()


def test_ctrl_c_on_the_command_line_exits_promptly(tmp_path):
  proc = subprocess.Popen(
      [sys.executable, 'scripts/run.py', '--config=configs/actor_critic.py:cartpole_host',
       f'--workdir={tmp_path}', '--config.total_frames=100000000',
       '--config.log_interval_s=0.2'],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  deadline = time.monotonic() + 120
  while time.monotonic() < deadline and not (tmp_path / 'metrics.jsonl').exists():
    time.sleep(0.2)
  assert (tmp_path / 'metrics.jsonl').exists()
  proc.send_signal(signal.SIGINT)
  try:
    proc.wait(timeout=20)
  except subprocess.TimeoutExpired:
    proc.kill()
    pytest.fail('the run did not stop within 20 s of Ctrl-C')
  assert proc.returncode != 0


_MESH_EQUALITY = '''
import json, jax, numpy as np
from agents.actor_critic import agent as agent_lib
from configs import actor_critic as configs
from core import types
from core.runtime import actor_learner_train
out = {}
for devices in (1, 2):
  config = configs.get_config('cartpole_host,lstm')
  config.agent.lstm_prev_inputs = True
  config.runtime.learner_devices = devices
  runtime, _ = actor_learner_train.build(config, agent_lib.make_agent)
  T, B = config.runtime.unroll_length, config.runtime.batch_size
  rng = np.random.default_rng(0)
  from agents.actor_critic import loss as loss_lib
  batch = types.Trajectory(
      observation=rng.normal(size=(T + 1, B, 4)).astype(np.float32),
      first=rng.random((T + 1, B)) < 0.1,
      action=rng.integers(0, 2, (T, B)).astype(np.int32),
      reward=np.ones((T, B), np.float32),
      discount=(rng.random((T, B)) > 0.05).astype(np.float32),
      behaviour_extras=loss_lib.ActorExtras(
          rng.normal(size=(T, B, 2)).astype(np.float32), np.ones((T, B), np.float32),
          rng.integers(0, 2, (T, B)).astype(np.int32)),
      agent_state=jax.device_get(runtime.agent.initial_state(B)))
  state = runtime.init(jax.random.PRNGKey(0))
  for _ in range(2):
    state, metrics = runtime.update(state, runtime.put_batch(batch))
  leaf = jax.tree.leaves(state.params)[0]
  actor_leaf = jax.tree.leaves(runtime.actor_params(state.params))[0]
  out[devices] = dict(
      params=[np.asarray(x).ravel().tolist() for x in jax.tree.leaves(state.params)],
      loss=float(metrics['loss']), param_devices=len(leaf.sharding.device_set),
      actor_devices=len(actor_leaf.sharding.device_set))
print(json.dumps(out))
'''


def test_learner_split_over_two_devices_matches_one(run_on_virtual_cpus):
  out = run_on_virtual_cpus(_MESH_EQUALITY, devices=2)
  one, two = out['1'], out['2']
  assert two['param_devices'] == 2 and two['actor_devices'] == 1
  np.testing.assert_allclose(one['loss'], two['loss'], rtol=1e-4)
  for a, b in zip(one['params'], two['params']):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
