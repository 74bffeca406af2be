"""Tests of the on-device runtime: learning, episode statistics, sharding, no recompiles."""

import textwrap

import jax
import numpy as np

from agents.actor_critic import agent as agent_lib
from configs import actor_critic as configs
from core.runtime import on_device_train


def _train(config, num_calls=None):
  runtime = on_device_train.build(config, agent_lib.make_agent)
  state = runtime.init(jax.random.PRNGKey(config.seed))
  calls = num_calls or on_device_train.total_updates(config) // runtime.updates_per_call
  for _ in range(calls):
    state, metrics = runtime.update(state)
  return runtime, state, jax.device_get(metrics)


def test_lstm_solves_memory_task_and_feedforward_cannot():
  lstm_runtime, lstm_state, _ = _train(configs.get_config('memory'))
  lstm = lstm_runtime.evaluate(lstm_state.params, jax.random.PRNGKey(7))
  ff_config = configs.get_config('memory_ff')
  ff_runtime, ff_state, _ = _train(ff_config)
  ff = ff_runtime.evaluate(ff_state.params, jax.random.PRNGKey(7))
  assert np.all(lstm.completed) and np.all(ff.completed)
  # Return 1 per correct answer: the mean return is the fraction correct.
  assert np.mean(lstm.episode_return) >= 0.95
  assert np.mean(ff.episode_return) <= 0.45  # chance is 1/4


def test_episode_statistics_and_no_recompile():
  config = configs.get_config('memory,smoke')
  config.env.kwargs.delay = 3
  runtime, state, metrics = _train(config, num_calls=3)
  assert int(state.update) == 3 * runtime.updates_per_call
  assert metrics['episodes'] > 0
  np.testing.assert_allclose(metrics['length_sum'] / metrics['episodes'], 3 + 2)
  # Three calls, one compilation: a recompile here would be a performance bug.
  assert runtime.update._cache_size() == 1


_SHARDED = textwrap.dedent('''
    import json, jax, numpy as np
    from agents.actor_critic import agent as agent_lib
    from configs import actor_critic as configs
    from core.runtime import on_device_train
    out = {}
    for devices in (1, 8):
      config = configs.get_config('memory,smoke')
      config.runtime.num_envs = 16
      config.runtime.num_devices = devices
      runtime = on_device_train.build(config, agent_lib.make_agent)
      state = runtime.init(jax.random.PRNGKey(0))
      for _ in range(2):
        state, metrics = runtime.update(state)
      leaf = jax.tree.leaves(state.params)[0]
      out[devices] = {
          'params': [np.asarray(x).ravel().tolist() for x in jax.tree.leaves(state.params)],
          'loss': float(metrics['loss']),
          'num_shards': len(state.env_state.key.sharding.device_set),
          'param_shards': len(leaf.sharding.device_set)}
    print(json.dumps(out))
''')


def test_eight_devices_match_one_device(run_on_virtual_cpus):
  out = run_on_virtual_cpus(_SHARDED, devices=8)
  one, eight = out['1'], out['8']
  assert eight['num_shards'] == 8 and one['num_shards'] == 1
  assert eight['param_shards'] == 8  # replicated on every device
  np.testing.assert_allclose(one['loss'], eight['loss'], rtol=1e-4)
  for a, b in zip(one['params'], eight['params']):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
