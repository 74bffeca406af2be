"""Asynchronous runs from configs/a3c.py: every smoke variant trains and fills its workdir,
a finished run continues from its checkpoint when given a larger budget, and deterministic
runs repeat exactly."""

import jax
import numpy as np
import pytest

from configs import a3c as configs
from core import checkpoint as checkpoint_lib
from core import metrics as metrics_lib
from experiments import async_workers as async_exp
from experiments import evaluation
from experiments import experiment
from experiments import host_play


def _train(config, workdir):
  experiment.validate(config)
  return experiment.train(config, workdir, print_fn=lambda s: None)


# Worker processes cost a few seconds to start; most variants run on threads here, and
# the process backend is covered by 'smoke' and 'qn,smoke' (and the resume test).
@pytest.mark.parametrize('variants', [
    # Slow ones: their paths run in the default suite elsewhere (``smoke`` in the resume
    # test, the Q-learners in ``q1``, Atari in tests/envs, Gaussian policies on
    # InvertedPendulum).
    pytest.param('smoke', marks=pytest.mark.slow), 'a3c_lstm,threads,smoke',
    'q1,threads,smoke', pytest.param('sarsa1,threads,smoke', marks=pytest.mark.slow),
    pytest.param('qn,smoke', marks=pytest.mark.slow),
    pytest.param('game=pong,threads,smoke', marks=pytest.mark.slow),
    pytest.param('q1,game=pong,threads,smoke', marks=pytest.mark.slow),
    'mujoco=InvertedPendulum-v5,threads,smoke',
    pytest.param('a3c_lstm,mujoco=HalfCheetah-v5,threads,smoke', marks=pytest.mark.slow)])
def test_smoke_variant_trains_and_fills_the_workdir(tmp_path, variants):
  config = configs.get_config(variants)
  result = _train(config, tmp_path)
  records = metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')
  _, frames_per_step = host_play.probe_env(config)
  per_update = async_exp.frames_per_update(config, frames_per_step)
  # Exactly the budget: workers take update tickets, so none overshoots.
  assert result.updates == async_exp.total_updates(config, frames_per_step)
  assert records[-1]['step'] == result.updates
  assert records[-1]['frames'] == result.updates * per_update
  assert [r['step'] for r in records] == sorted({r['step'] for r in records})
  # The final evaluation; the actor-critic's also acting by its policy's mode (the
  # Q-learners' evaluation is greedy already).
  assert 'eval_return' in records[-1]
  assert ('eval_greedy_return' in records[-1]) == (config.agent.name == 'actor_critic')
  for name in ('config.json', 'provenance.json', 'metrics.jsonl'):
    assert (tmp_path / name).is_file(), name
  with checkpoint_lib.Checkpointer(tmp_path / 'checkpoints') as ckpt:
    assert ckpt.latest_step() == result.updates
  assert result.plot_paths


def test_a_larger_budget_resumes_from_the_checkpoint(tmp_path):
  config = configs.get_config('smoke')
  first = _train(config, tmp_path)
  config.total_frames *= 3
  second = _train(config, tmp_path)
  assert second.updates == 3 * first.updates
  steps = [r['step'] for r in metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')]
  assert steps == sorted(set(steps)) and steps[-1] == second.updates
  assert list(tmp_path.glob('provenance.resume-*.json'))
  # scripts/evaluate.py's path: the last checkpoint plays fresh episodes.
  played = evaluation.evaluate(tmp_path, num_episodes=3, seed=1)
  assert played.episode_returns.shape == (3,) and np.all(played.episode_returns >= 1)


def test_deterministic_runs_repeat_exactly(tmp_path):
  config = configs.get_config('deterministic,smoke')
  _train(config, tmp_path / 'a')
  _train(config, tmp_path / 'b')
  _, template, _ = async_exp.build(config)
  states = []
  for name in ('a', 'b'):
    with checkpoint_lib.Checkpointer(tmp_path / name / 'checkpoints') as ckpt:
      states.append(ckpt.restore(template))
  jax.tree.map(np.testing.assert_array_equal, states[0].params, states[1].params)
  assert int(states[0].update) == int(states[1].update) > 0


def test_epsilon_variant_fixes_every_workers_final_epsilon():
  config = configs.get_config('sarsa1,epsilon=0.1,smoke')
  experiment.validate(config)
  assert tuple(config.agent.epsilon_finals) == (0.1,)
  assert tuple(config.agent.epsilon_probs) == (1.0,)


@pytest.mark.parametrize('variants, message', [('a3c,epsilon=0.1', 'only the Q-learners'),
                                               ('q1,epsilon=high', 'a number in'),
                                               ('q1,epsilon=1.5', 'a number in')])
def test_epsilon_variant_rejects_bad_input(variants, message):
  with pytest.raises(ValueError, match=message):
    configs.get_config(variants)


def test_lr_variant_sets_the_initial_learning_rate():
  config = configs.get_config('sarsa1,lr=3e-4,smoke')
  experiment.validate(config)
  assert config.optimizer.learning_rate == pytest.approx(3e-4)
  assert config.optimizer.schedule == 'linear'  # still annealed to 0


def test_entropy_variant_sets_the_actor_critics_entropy_cost():
  config = configs.get_config('a3c,entropy=0.001,smoke')
  experiment.validate(config)
  assert config.agent.entropy_cost == pytest.approx(0.001)
  # Applied after an environment variant, it overrides that environment's setting.
  assert configs.get_config('mujoco=InvertedPendulum-v5,entropy=0').agent.entropy_cost == 0.0


@pytest.mark.parametrize('variants, message', [
    ('q1,entropy=0.001', 'only A3C'), ('a3c,entropy=-1', 'a non-negative number'),
    ('a3c,entropy=lots', 'a non-negative number')])
def test_entropy_variant_rejects_bad_input(variants, message):
  with pytest.raises(ValueError, match=message):
    configs.get_config(variants)


@pytest.mark.parametrize('value', ['fast', '0', '-1e-3'])
def test_lr_variant_rejects_bad_input(value):
  with pytest.raises(ValueError, match=f"'lr={value}': expected a positive number"):
    configs.get_config(f'sarsa1,lr={value}')
