"""Tests of the actor-learner's unroll replay and of batches that mix in replayed unrolls."""

import types as pytypes

import jax
import ml_collections
import numpy as np
import pytest

from configs import actor_critic as configs
from core import config as config_lib
from experiments import experiment
from core import types
from core.runtime import actor_learner
from experiments import actor_learner as actor_learner_exp
from core.runtime import replay as replay_lib


def _unroll(n, tag, T=3):
  """A trajectory of ``n`` environments whose every entry names (tag, environment)."""
  ids = tag * 100 + np.arange(n, dtype=np.float32)
  return types.Trajectory(
      observation=np.broadcast_to(ids[None, :, None], (T + 1, n, 2)).copy(),
      first=np.zeros((T + 1, n), bool),
      last=np.zeros((T + 1, n), bool),
      action=np.broadcast_to(ids[None].astype(np.int32), (T, n)).copy(),
      reward=np.broadcast_to(ids[None], (T, n)).copy(),
      discount=np.ones((T, n), np.float32),
      behaviour_extras={'logits': np.broadcast_to(ids[None, :, None], (T, n, 4)).copy()},
      agent_state=(ids[:, None] * np.ones((1, 5), np.float32),))


def test_split_then_stack_gives_back_the_unroll():
  unroll = _unroll(4, tag=1)
  back = replay_lib.stack_rows(replay_lib.split_rows(unroll))
  jax.tree.map(np.testing.assert_array_equal, back, unroll)


def test_rows_keep_each_environment_together():
  for row in replay_lib.split_rows(_unroll(3, tag=2)):
    env_id = row.reward[0]
    tagged = (row.observation, row.action, row.reward, row.behaviour_extras, row.agent_state)
    for leaf in jax.tree.leaves(tagged):
      assert np.all(leaf == env_id)  # time steps, extras and recurrent state of one env


def test_full_buffer_evicts_the_oldest_rows():
  buffer = replay_lib.UnrollReplay(capacity=6, seed=0)
  for tag in range(4):  # 4 unrolls of 2 envs into 6 rows: the first unroll is gone
    buffer.add(_unroll(2, tag), behaviour_version=tag)
  assert len(buffer) == 6
  batch, versions = buffer.sample(400)
  assert set(versions) == {1, 2, 3}
  assert set(np.unique(batch.reward[0])) == {100., 101., 200., 201., 300., 301.}


def test_sample_is_uniform_over_rows_and_consistent():
  buffer = replay_lib.UnrollReplay(capacity=100, seed=0)
  for tag in range(5):
    buffer.add(_unroll(4, tag), behaviour_version=10 + tag)
  batch, versions = buffer.sample(4000)
  assert batch.observation.shape == (4, 4000, 2)
  assert batch.agent_state[0].shape == (4000, 5)
  ids = batch.reward[0]
  np.testing.assert_array_equal(versions, 10 + ids // 100)
  np.testing.assert_array_equal(batch.agent_state[0][:, 0], ids)
  counts = np.unique(ids, return_counts=True)[1]
  assert len(counts) == 20 and counts.min() > 140 and counts.max() < 270  # ~200 each


def test_empty_buffer_and_bad_capacity_are_errors():
  with pytest.raises(ValueError, match='empty'):
    replay_lib.UnrollReplay(capacity=4).sample(1)
  with pytest.raises(ValueError, match='capacity'):
    replay_lib.UnrollReplay(capacity=0)


# Only ``agent.step`` is touched (wrapped in jit, never called) when the runtime is built.
_UNUSED_AGENT = pytypes.SimpleNamespace(step=lambda *args: None)


@pytest.mark.parametrize('B, k, N, T, frames_per_step, unrolls, replayed, frames', [
    # B / (k + 1) fresh environment-unrolls, taken as whole actor unrolls of N; the rest
    # replayed; only fresh steps count as frames.
    (32, 0, 16, 20, 4, 2, 0, 2560),  # no replay: 2 actor unrolls, 32 x 20 steps x 4 frames
    (8, 3, 2, 10, 4, 1, 6, 80),      # 2 fresh of 8: 2 x 10 x 4
    (16, 7, 2, 10, 4, 1, 14, 80),    # 2 fresh of 16: the same frames per update
    (16, 1, 8, 20, 1, 1, 8, 160),    # 8 fresh of 16: 8 x 20 x 1
    (24, 2, 4, 5, 1, 2, 16, 40),     # 8 fresh of 24: 2 actor unrolls of 4, 8 x 5 x 1
])
def test_batch_composition_and_frames_per_update_hand_worked(
    B, k, N, T, frames_per_step, unrolls, replayed, frames):
  runtime = actor_learner.ActorLearner(
      _UNUSED_AGENT, None, None, None, num_actors=1, envs_per_actor=N, batch_size=B,
      unroll_length=T, replay_ratio=k)
  assert runtime.unrolls_per_batch == unrolls
  assert runtime.replayed_per_batch == replayed
  assert runtime.steps_per_update * frames_per_step == frames
  # The experiment's frame budget (updates for total_frames) counts the same frames.
  config = ml_collections.ConfigDict(
      {'runtime': {'batch_size': B, 'replay_ratio': k, 'unroll_length': T}})
  assert actor_learner_exp.frames_per_update(config, frames_per_step) == frames


def _replay_config(replay_ratio=1):
  config = configs.get_config('cartpole_host')
  config.runtime.envs_per_actor = 8
  config.runtime.batch_size = 16
  config.runtime.replay_ratio = replay_ratio
  config.runtime.replay_capacity = 64
  return config


def test_batches_mix_fresh_and_replayed_unrolls():
  config = _replay_config(replay_ratio=1)  # B = 16, N = 8: one fresh unroll, 8 replayed
  runtime, frames_per_step = actor_learner_exp.build(config)
  assert runtime.unrolls_per_batch == 1 and runtime.replayed_per_batch == 8
  assert runtime.steps_per_update == 8 * config.runtime.unroll_length
  assert actor_learner_exp.frames_per_update(config, frames_per_step) == (
      8 * config.runtime.unroll_length * frames_per_step)
  state = runtime.init(jax.random.PRNGKey(0))
  with runtime.start(state) as session:
    for _ in range(12):
      state, metrics = session.step(state)
    assert len(session.replay) == min(12 * 8, 64)
  assert int(state.update) == 12
  assert np.isfinite(float(metrics['loss']))
  assert metrics['replay_policy_lag'] >= metrics['policy_lag'] - 1
  assert 'replay_size' in metrics


def test_replay_ratio_that_splits_unrolls_is_a_config_error():
  config = _replay_config(replay_ratio=2)  # 16 / 3 is not whole
  with pytest.raises(config_lib.ConfigError, match=r'runtime\.batch_size.*replay_ratio'):
    experiment.validate(config)
  with pytest.raises(ValueError, match='replay_ratio'):
    actor_learner.ActorLearner(None, None, None, None, num_actors=1, envs_per_actor=8,
                               batch_size=16, unroll_length=4, replay_ratio=2)
