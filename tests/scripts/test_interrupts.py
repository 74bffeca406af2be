"""Ctrl-C and SIGTERM stop a run cleanly: a checkpoint of the last update, one line that
says how to resume, no traceback; rerunning resumes from it."""

import pathlib
import signal
import subprocess
import sys
import time

import pytest

from core import checkpoint as checkpoint_lib
from core import metrics as metrics_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = [sys.executable, str(ROOT / 'scripts' / 'run.py')]


def _start(config, workdir):
  args = [f'--config={config}', f'--workdir={workdir}', '--config.total_frames=100000000',
          '--config.log_interval_s=0.2', '--config.checkpoint_interval_s=3600']
  return subprocess.Popen(RUN + args, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
@pytest.mark.parametrize('config, signum, code', [
    ('configs/actor_critic.py:cartpole', signal.SIGINT, 130),
    ('configs/actor_critic.py:cartpole', signal.SIGTERM, 143),
    ('configs/actor_critic.py:cartpole_host', signal.SIGINT, 130),
    ('configs/a3c.py:cartpole', signal.SIGINT, 130),
    ('configs/a3c.py:cartpole', signal.SIGTERM, 143),
])
def test_signal_saves_the_last_update_and_says_how_to_resume(tmp_path, config, signum, code):
  proc = _start(config, tmp_path)
  metrics = tmp_path / 'metrics.jsonl'
  deadline = time.monotonic() + 180
  while time.monotonic() < deadline and proc.poll() is None:
    if metrics.exists() and len(metrics_lib.read_metrics(metrics)) >= 2:
      break
    time.sleep(0.1)
  assert proc.poll() is None, proc.stdout.read()
  proc.send_signal(signum)
  try:
    output, _ = proc.communicate(timeout=60)
  except subprocess.TimeoutExpired:
    proc.kill()
    pytest.fail(f'the run did not stop within 60 s of {signum.name}')
  assert proc.returncode == code, output[-3000:]
  assert 'Traceback' not in output and 'KeyboardInterrupt' not in output, output[-3000:]
  last_line = output.strip().splitlines()[-1]
  assert f'stopped by {signum.name} at update' in output, output[-2000:]
  stopped_at = int(output.split('at update ')[1].split()[0].replace(',', ''))
  assert 'rerun the same command to resume' in output
  with checkpoint_lib.Checkpointer(tmp_path / 'checkpoints') as ckpt:
    assert ckpt.latest_step() == stopped_at
  # The checkpoint interval (an hour) never came: the save is the stop's own.
  records = metrics_lib.read_metrics(metrics)
  assert records[-1]['step'] == stopped_at, last_line
