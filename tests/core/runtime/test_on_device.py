"""Tests of the on-device runtime: learning, episode statistics, truncation, sharding,
no recompiles, resume determinism."""

import textwrap

import chex
import jax
import numpy as np
import pytest

from configs import actor_critic as configs
from core import checkpoint as checkpoint_lib
from experiments import on_device


def _train(config, num_calls=None, state=None, runtime=None):
  runtime = runtime or on_device.build(config)
  if state is None:
    state = runtime.init(jax.random.PRNGKey(config.seed))
  calls = num_calls or on_device.total_updates(config) // runtime.updates_per_call
  for _ in range(calls):
    state, metrics = runtime.update(state)
  return runtime, state, jax.device_get(metrics)


@pytest.mark.slow
def test_lstm_solves_memory_task_and_feedforward_cannot():
  lstm_runtime, lstm_state, _ = _train(configs.get_config('memory'))
  lstm = lstm_runtime.evaluate(lstm_state.learner.params, jax.random.PRNGKey(7))
  ff_config = configs.get_config('memory_ff')
  ff_runtime, ff_state, _ = _train(ff_config)
  ff = ff_runtime.evaluate(ff_state.learner.params, jax.random.PRNGKey(7))
  assert np.all(lstm.completed) and np.all(ff.completed)
  # Return 1 per correct answer: the mean return is the fraction correct.
  assert np.mean(lstm.episode_return) >= 0.95
  assert np.mean(ff.episode_return) <= 0.45  # chance is 1/4


def test_episode_statistics_and_no_recompile():
  config = configs.get_config('memory,smoke')
  config.env.kwargs.delay = 3
  runtime = on_device.build(config)
  # Three calls, one trace: a recompile here would be a performance bug.
  runtime = runtime._replace(update=jax.jit(
      chex.assert_max_traces(runtime.update.__wrapped__, n=1), donate_argnums=0))
  runtime, state, metrics = _train(config, num_calls=3, runtime=runtime)
  assert int(state.learner.update) == 3 * runtime.updates_per_call
  assert metrics['episodes'] > 0
  np.testing.assert_allclose(metrics['length_sum'] / metrics['episodes'], 3 + 2)


def test_truncated_episodes_bootstrap_and_count_their_length():
  """CartPole truncated at 5 steps: every episode is 5 agent steps long (the reset step
  is not one), and the learner sees discount 1 into each final observation."""
  config = configs.get_config('cartpole,smoke')
  config.env.kwargs.max_episode_steps = 5
  _, state, metrics = _train(config, num_calls=2)
  assert metrics['episodes'] > 0
  np.testing.assert_allclose(metrics['length_sum'] / metrics['episodes'], 5.0)


@pytest.mark.slow  # the host loop's resume also runs in test_supervised.py and the async tests
def test_resume_from_a_checkpoint_is_deterministic(tmp_path):
  """N updates equal N/2, a checkpoint and a restore into a fresh runtime, then N/2."""
  config = configs.get_config('memory,smoke')
  _, whole, _ = _train(config, num_calls=4)
  _, half, _ = _train(config, num_calls=2)
  with checkpoint_lib.Checkpointer(tmp_path) as ckpt:
    ckpt.save(int(half.learner.update), half)
  runtime = on_device.build(config)
  template = runtime.init(jax.random.PRNGKey(config.seed + 99))
  with checkpoint_lib.Checkpointer(tmp_path) as ckpt:
    restored = ckpt.restore(template)
  _, resumed, _ = _train(config, num_calls=2, state=restored, runtime=runtime)
  chex.assert_trees_all_close(jax.device_get(resumed), jax.device_get(whole),
                              rtol=1e-5, atol=1e-6)


_SHARDED = textwrap.dedent('''
    import json, jax, numpy as np
    from configs import actor_critic as configs
    from experiments import on_device
    out = {}
    for devices in (1, 8):
      config = configs.get_config('memory,smoke')
      config.runtime.num_envs = 16
      config.runtime.num_devices = devices
      runtime = on_device.build(config)
      state = runtime.init(jax.random.PRNGKey(0))
      for _ in range(2):
        state, metrics = runtime.update(state)
      params = state.learner.params
      leaf = jax.tree.leaves(params)[0]
      out[devices] = {
          'params': [np.asarray(x).ravel().tolist() for x in jax.tree.leaves(params)],
          'loss': float(metrics['loss']),
          'num_shards': len(state.env_state.key.sharding.device_set),
          'param_shards': len(leaf.sharding.device_set)}
    print(json.dumps(out))
''')


@pytest.mark.slow
def test_eight_devices_match_one_device(run_on_virtual_cpus):
  out = run_on_virtual_cpus(_SHARDED, devices=8)
  one, eight = out['1'], out['8']
  assert eight['num_shards'] == 8 and one['num_shards'] == 1
  assert eight['param_shards'] == 8  # replicated on every device
  np.testing.assert_allclose(one['loss'], eight['loss'], rtol=1e-4)
  for a, b in zip(one['params'], eight['params']):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
