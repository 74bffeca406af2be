"""End-to-end tests of scripts/run.py: smoke runs, bad input, kill and resume."""

import json
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from configs import actor_critic as configs
from experiments import experiment
from core import metrics as metrics_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = [sys.executable, str(ROOT / 'scripts' / 'run.py')]


def _run(args, **kwargs):
  return subprocess.run(RUN + args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                        **kwargs)


@pytest.mark.parametrize('variants', [
    'cartpole,smoke', pytest.param('memory,smoke', marks=pytest.mark.slow),
    pytest.param('cartpole,lstm,smoke', marks=pytest.mark.slow), 'memory_ff,smoke',
    'cartpole_host,smoke', pytest.param('memory,sdnc,smoke', marks=pytest.mark.slow)])
def test_smoke_variant_trains_and_fills_the_workdir(tmp_path, variants):
  config = configs.get_config(variants)
  experiment.validate(config)
  result = experiment.train(config, tmp_path, print_fn=lambda s: None)
  rt = config.runtime
  # Fresh agent steps per update, one frame each in these environments: on the device every
  # environment steps T times per update; the actor-learner's batch holds B/(k+1) fresh
  # unrolls of T. Updates come in calls of updates_per_call on the device, singly otherwise.
  if rt.name == 'on_device':
    frames_per_update, per_call = rt.num_envs * rt.unroll_length, rt.updates_per_call
  else:
    frames_per_update, per_call = rt.batch_size // (rt.replay_ratio + 1) * rt.unroll_length, 1
  records = metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')
  assert records[-1]['step'] == result.updates and result.updates % per_call == 0
  assert records[-1]['frames'] == result.frames == result.updates * frames_per_update
  # The whole budget is spent, overshooting by less than one call.
  assert config.total_frames <= result.frames < config.total_frames + per_call * frames_per_update
  for name in ('config.json', 'provenance.json', 'metrics.jsonl'):
    assert (tmp_path / name).is_file(), name
  assert list((tmp_path / 'tensorboard').iterdir())
  assert list((tmp_path / 'checkpoints').iterdir())
  assert result.plot_paths
  assert all(pathlib.Path(p).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' for p in result.plot_paths)
  provenance = json.loads((tmp_path / 'provenance.json').read_text())
  assert provenance['seed'] == config.seed and 'jax' in provenance['packages']
  if rt.name == 'on_device':  # the actor-learner runs no final evaluation
    assert records[-1]['eval_return'] == pytest.approx(result.eval_return)


def test_cli_prints_final_score_and_paths(tmp_path):
  proc = _run(['--config=configs/actor_critic.py:cartpole,smoke', f'--workdir={tmp_path}'])
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'final: eval return' in proc.stdout
  assert f'metrics: {tmp_path}/metrics.jsonl' in proc.stdout
  assert 'plots: ' in proc.stdout and '%]' in proc.stdout  # progress lines


@pytest.mark.parametrize('args, message', [
    (['--config.nonexistent=1'], 'config.nonexistent: unknown field'),
    (['--config.agent.nonexistent=1'], 'config.agent.nonexistent: unknown field'),
    (['--config.runtime.num_envs=many'], 'config.runtime.num_envs: expected an integer'),
    (['--config.env.name=pong9000'], "config.env.name: expected one of ['cartpole'"),
    (['--config.optimizer.learning_rate=-0.001'],
     'config.optimizer.learning_rate: expected a positive number'),
    (['--config.runtime.num_envs=-4'], 'config.runtime.num_envs: expected a positive integer'),
    (['--config=configs/actor_critic.py:nosuchvariant'], "unknown variant 'nosuchvariant'"),
])
def test_bad_input_stops_before_any_work(tmp_path, args, message):
  workdir = tmp_path / 'run'
  proc = _run(args + [f'--workdir={workdir}'])
  assert proc.returncode != 0
  assert message in proc.stderr, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr
  assert not workdir.exists()


def test_corrupt_checkpoint_is_reported_as_such(tmp_path):
  config = configs.get_config('cartpole,smoke')
  experiment.train(config, tmp_path, print_fn=lambda s: None)
  latest = max((tmp_path / 'checkpoints').iterdir(), key=lambda p: p.stat().st_mtime)
  for path in latest.rglob('*'):
    if path.is_file():
      path.write_bytes(b'garbage')
  proc = _run(['--config=configs/actor_critic.py:cartpole,smoke', f'--workdir={tmp_path}'])
  assert proc.returncode != 0
  assert 'corrupt' in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_killed_run_resumes_and_the_step_counter_continues(tmp_path):
  args = ['--config=configs/actor_critic.py:cartpole', f'--workdir={tmp_path}',
          '--config.total_frames=4000000', '--config.runtime.num_envs=32',
          '--config.runtime.unroll_length=20', '--config.runtime.updates_per_call=5',
          '--config.checkpoint_interval_s=0.5', '--config.log_interval_s=0.2',
          '--config.num_eval_episodes=4']
  total_updates = 4_000_000 // (32 * 20)  # 6,250: a whole number of calls of 5
  proc = subprocess.Popen(RUN + args, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  checkpoints = tmp_path / 'checkpoints'
  deadline = time.monotonic() + 240
  while time.monotonic() < deadline and proc.poll() is None:
    steps = [p for p in checkpoints.iterdir() if p.name.isdigit()] if checkpoints.exists() else []
    if len(steps) >= 1:
      break
    time.sleep(0.1)
  assert proc.poll() is None, 'the run ended before it could be killed: ' + proc.stdout.read()
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  saved = max(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
  assert 0 < saved < total_updates

  resumed = _run(args)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'resumed from checkpoint at update' in resumed.stdout
  resumed_from = int(resumed.stdout.split('resumed from checkpoint at update ')[1].split()[0])
  assert resumed_from >= saved
  steps = [r['step'] for r in metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')]
  # Each step once and in order: rows the killed run logged after its checkpoint are
  # dropped, and the resumed run's counter continues from the checkpoint.
  assert steps == sorted(set(steps)), steps
  assert resumed_from in steps or min(s for s in steps if s > resumed_from) > resumed_from
  assert max(steps) == total_updates
  assert list(tmp_path.glob('provenance.resume-*.json'))

