"""IMPALA on Atari end to end: the smoke configs train, resume, evaluate and record."""

import pathlib
import subprocess
import sys

import pytest


from configs import impala_atari
from experiments import experiment

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(script, args):
  return subprocess.run([sys.executable, f'scripts/{script}.py'] + args, cwd=ROOT,
                        capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('variants', ['pong,smoke', 'breakout,deep,lstm,smoke',
                                      'pong,replay,adam,smoke'])
def test_smoke_trains_resumes_and_evaluates(tmp_path, variants):
  config = [f'--config=configs/impala_atari.py:{variants}', f'--workdir={tmp_path}']
  first = _run('run', config)
  assert first.returncode == 0, first.stderr[-3000:]
  assert 'final: mean return' in first.stdout
  assert (tmp_path / 'plots' / 'env_fps.png').exists()
  # The budget is spent: a rerun resumes at the end and stops at once.
  again = _run('run', config)
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'resumed from checkpoint at update' in again.stdout
  video = tmp_path / 'episode.gif'
  evaluated = _run('evaluate', [f'--workdir={tmp_path}', '--episodes=1', f'--video={video}'])
  assert evaluated.returncode == 0, evaluated.stderr[-3000:]
  assert '1 episodes: mean return' in evaluated.stdout
  assert video.read_bytes()[:6] == b'GIF89a'


def test_variants_set_the_paper_settings():
  config = impala_atari.get_config('pong')
  assert (config.runtime.unroll_length, config.runtime.batch_size) == (20, 32)
  assert config.optimizer.name == 'rmsprop' and config.optimizer.learning_rate == 6e-4
  assert (config.optimizer.decay, config.optimizer.eps, config.optimizer.momentum) == (
      0.99, 0.01, 0.0)
  assert config.optimizer.schedule == 'linear' and config.optimizer.max_grad_norm == 40.0
  assert (config.agent.entropy_cost, config.agent.baseline_cost, config.agent.discount) == (
      0.01, 0.5, 0.99)
  assert config.agent.reward_clip == 1.0
  assert impala_atari.get_config('game=seaquest').env.name == 'atari/seaquest'
  assert impala_atari.get_config('deep').agent.torso == 'deep'
  assert impala_atari.get_config('lstm').agent.core == 'lstm'
  assert impala_atari.get_config('sticky').env.kwargs.sticky_actions
  with pytest.raises(ValueError, match='unknown variant'):
    impala_atari.get_config('nope')


@pytest.mark.parametrize('variant', sorted(set(impala_atari.VARIANTS) - {'pong'}))
def test_every_variant_passes_validation(variant):
  config = impala_atari.get_config(f'pong,{variant}')
  experiment.validate(config)


def test_replay_variants_learn_from_each_unroll_4_and_8_times():
  for variant, ratio, batch in (('replay', 3, 8), ('replay7', 7, 16)):
    runtime = impala_atari.get_config(variant).runtime
    assert (runtime.replay_ratio, runtime.batch_size) == (ratio, batch)
    # Fresh unrolls per batch: one per environment of one actor.
    assert runtime.batch_size // (ratio + 1) == runtime.envs_per_actor
