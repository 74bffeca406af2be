"""Tests of the actor-learner runtime on host environments: unroll assembly, learning,
failure, lag, stop, resume."""

import threading
import time

import chex
import jax
import numpy as np
import optax
import pytest

from agents.actor_critic import agent as agent_family
from agents.actor_critic import loss as loss_lib
from configs import actor_critic as configs
from core import checkpoint as checkpoint_lib
from core import learner as learner_lib
from core import metrics as metrics_lib
from core.runtime import actor_learner
from experiments import actor_learner as actor_learner_exp


def _runtime(config, make_env=None):
  runtime, _ = actor_learner_exp.build(config)
  if make_env is not None:
    runtime.make_env = make_env
  return runtime


def _single_actor(config, make_learner=None):
  """One actor of 4 CartPole envs truncated at 7 steps, LSTM agent;
  ``make_learner(agent)`` replaces the config's learner."""
  config.agent.core = 'lstm'
  config.agent.lstm_prev_inputs = True
  config.env.kwargs = {'env_kwargs': {'max_episode_steps': 7}}
  base = _runtime(config)
  return actor_learner.ActorLearner(
      base.agent, base.make_env, base.spec,
      make_learner(base.agent) if make_learner else base.learner, num_actors=1,
      envs_per_actor=4, batch_size=4, unroll_length=5, queue_capacity=8, seed=3)


def _actor_threads():
  return [t for t in threading.enumerate() if t.name.startswith('actor-')]


def test_unrolls_join_up_and_frozen_parameters_give_rho_one():
  """Observation T of one unroll is observation 0 of the next, the recurrent state
  carries over, and a learner whose parameters never change sees ρ = 1 everywhere
  (across episode starts and truncation reset steps)."""
  config = configs.get_config('cartpole_host')
  runtime = _single_actor(config, lambda agent: learner_lib.make_learner(
      agent.loss, optax.set_to_zero()))
  state = runtime.init(jax.random.PRNGKey(0))
  with runtime.start(state) as session:
    unrolls = [session._get().trajectory for _ in range(6)]  # pylint: disable=protected-access
    for _ in range(3):
      state, metrics = session.step(state)
      np.testing.assert_allclose(metrics['mean_rho'], 1.0, rtol=1e-5)
  assert any(np.any(u.last[1:] & ~u.first[1:]) for u in unrolls), 'want a truncation'
  network = agent_family.make_network(runtime.spec, config.agent)
  for prev, nxt in zip(unrolls, unrolls[1:]):
    for field in ('observation', 'first', 'last'):
      np.testing.assert_array_equal(getattr(prev, field)[-1], getattr(nxt, field)[0])
    # The state after x_0 .. x_{T-1} is the one the next unroll starts from.
    inputs = jax.tree.map(lambda x: x[:-1], loss_lib.unroll_inputs(prev))
    _, final_core = network.unroll(state.params, inputs, prev.agent_state.core)
    chex.assert_trees_all_close(final_core, nxt.agent_state.core, atol=1e-5)


def test_learner_resume_from_a_checkpoint_is_deterministic(tmp_path):
  """N learner updates equal N/2, a checkpoint restored into a fresh runtime, N/2 more.

  The host environments are not checkpointed (a resumed run starts fresh episodes), so
  the batches are recorded once and fed to both; what must survive the restore is the
  parameters, the optimiser state, the update count and the learner's keys."""
  config = configs.get_config('cartpole_host')
  runtime = _single_actor(config)
  state = runtime.init(jax.random.PRNGKey(0))
  with runtime.start(state) as session:
    batches = [session.next_batch(0)[0] for _ in range(4)]
  learn = lambda s, bs: [s := runtime.update(s, runtime.put_batch(b))[0] for b in bs][-1]
  whole = learn(state, batches)
  half = learn(state, batches[:2])
  with checkpoint_lib.Checkpointer(tmp_path) as ckpt:
    ckpt.save(int(half.update), half)
  fresh = _single_actor(configs.get_config('cartpole_host'))
  with checkpoint_lib.Checkpointer(tmp_path) as ckpt:
    restored = ckpt.restore(fresh.init(jax.random.PRNGKey(1)))
  resumed = [restored := fresh.update(restored, fresh.put_batch(b))[0] for b in batches[2:]][-1]
  chex.assert_trees_all_close(jax.device_get(resumed), jax.device_get(whole),
                              rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_learns_cartpole_from_host_environments(tmp_path):
  config = configs.get_config('cartpole_host')
  config.log_interval_s = 1.0
  result = actor_learner_exp.train(config, tmp_path, print_fn=lambda s: None)
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
      lags.append(metrics['policy_lag'])
  # An unroll waits behind at most the queue's items and one per actor, as long as every
  # actor gets CPU time; one that the OS leaves unscheduled (a loaded machine) comes back
  # with an older version, so the bound is checked on the typical update, not the worst.
  bound = (runtime.queue_capacity + runtime.num_actors) // runtime.unrolls_per_batch + 2
  assert np.median(lags) <= bound, lags
  assert int(state.update) == 40


def test_interrupt_stops_actors_cleanly():
  runtime = _runtime(configs.get_config('cartpole_host'))
  state = runtime.init(jax.random.PRNGKey(0))
  with pytest.raises(KeyboardInterrupt):
    with runtime.start(state) as session:
      state, _ = session.step(state)
      raise KeyboardInterrupt
  assert not _actor_threads()


_MESH_EQUALITY = '''
import json, jax, numpy as np
from agents.actor_critic import loss as loss_lib
from configs import actor_critic as configs
from core import types
from experiments import actor_learner
out = {}
for devices in (1, 2):
  config = configs.get_config('cartpole_host,lstm')
  config.agent.lstm_prev_inputs = True
  config.runtime.learner_devices = devices
  runtime, _ = actor_learner.build(config)
  T, B = config.runtime.unroll_length, config.runtime.batch_size
  state = runtime.init(jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  batch = types.Trajectory(
      observation=rng.normal(size=(T + 1, B, 4)).astype(np.float32),
      first=rng.random((T + 1, B)) < 0.1,
      last=rng.random((T + 1, B)) < 0.1,
      action=rng.integers(0, 2, (T, B)).astype(np.int32),
      reward=np.ones((T, B), np.float32),
      discount=(rng.random((T, B)) > 0.05).astype(np.float32),
      behaviour_extras=loss_lib.ActorExtras(
          rng.normal(size=(T, B, 2)).astype(np.float32), np.ones((T, B), np.float32),
          rng.integers(0, 2, (T, B)).astype(np.int32)),
      agent_state=jax.device_get(runtime.agent.initial_state(state.params, None, B)))
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


@pytest.mark.slow
def test_learner_split_over_two_devices_matches_one(run_on_virtual_cpus):
  out = run_on_virtual_cpus(_MESH_EQUALITY, devices=2)
  one, two = out['1'], out['2']
  assert two['param_devices'] == 2 and two['actor_devices'] == 1
  np.testing.assert_allclose(one['loss'], two['loss'], rtol=1e-4)
  for a, b in zip(one['params'], two['params']):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
