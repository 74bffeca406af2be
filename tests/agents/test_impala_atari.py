"""IMPALA on Atari: the smoke configs train, resume, evaluate and record; every variant
validates; replay batches take B/(k+1) fresh unrolls and count only their frames."""

import pathlib
import subprocess
import sys

import pytest

from configs import impala_atari
from core import config as config_lib
from experiments import actor_learner as actor_learner_exp
from experiments import experiment

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(script, args):
  return subprocess.run([sys.executable, f'scripts/{script}.py'] + args, cwd=ROOT,
                        capture_output=True, text=True, timeout=600)


# One end-to-end Atari run in the default suite; the others (a minute or two each) are slow.
@pytest.mark.parametrize('variants', [
    pytest.param('pong,smoke', marks=pytest.mark.slow),
    pytest.param('breakout,deep,lstm,smoke', marks=pytest.mark.slow),
    pytest.param('pong,replay,adam,smoke', marks=pytest.mark.slow)])
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


def test_game_variant_builds_that_game_and_bad_names_are_errors():
  # Validation probes the game's emulator, so a game variant that names a real game
  # passes and one that does not is reported against config.env.
  experiment.validate(impala_atari.get_config('game=seaquest'))
  with pytest.raises(config_lib.ConfigError, match=r"config\.env:.*'pongg'.*did you mean pong"):
    experiment.validate(impala_atari.get_config('game=pongg'))
  with pytest.raises(ValueError, match=r"impala_atari\.py: unknown variant 'nope'.*replay7"):
    impala_atari.get_config('nope')


@pytest.mark.parametrize('variant', sorted(set(impala_atari.VARIANTS) - {'pong'}))
def test_every_variant_passes_validation(variant):
  config = impala_atari.get_config(f'pong,{variant}')
  experiment.validate(config)


@pytest.mark.parametrize('variant', ['replay', 'replay7', 'replay,smoke'])
def test_replay_batch_takes_b_over_k_plus_1_fresh_unrolls(variant):
  """A batch of B unrolls with replay ratio k holds B/(k+1) fresh ones, each learnt from
  k+1 times; the experiment's frame budget counts only those, 4 Atari frames per step."""
  config = impala_atari.get_config(variant)
  rt = config.runtime
  k, batch = rt.replay_ratio, rt.batch_size
  runtime, frames_per_step = actor_learner_exp.build(config)
  assert frames_per_step == 4  # frameskip 4
  fresh = runtime.unrolls_per_batch * rt.envs_per_actor  # whole actor unrolls from the queue
  assert fresh * (k + 1) == batch
  assert runtime.replayed_per_batch == batch - fresh == k * fresh
  assert runtime.steps_per_update == fresh * rt.unroll_length
  assert actor_learner_exp.frames_per_update(config, frames_per_step) == (
      batch // (k + 1) * rt.unroll_length * 4)

