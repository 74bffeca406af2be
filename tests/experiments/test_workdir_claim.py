"""experiments.workdir.claim: one holder per workdir, released when its process ends."""

import subprocess
import sys
import time

from experiments import workdir


def test_a_second_claim_is_refused_until_the_first_is_released(tmp_path):
  with workdir.claim(tmp_path / 'run') as first:
    assert first
    with workdir.claim(tmp_path / 'run') as second:
      assert not second
  with workdir.claim(tmp_path / 'run') as again:
    assert again


def test_the_claim_of_a_killed_process_is_free_again(tmp_path):
  holder = subprocess.Popen(
      [sys.executable, '-c',
       'import sys, time\n'
       'from experiments import workdir\n'
       f'with workdir.claim({str(tmp_path / "run")!r}) as held:\n'
       '  print(held, flush=True)\n'
       '  time.sleep(60)\n'],
      stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'True'
    with workdir.claim(tmp_path / 'run') as held:
      assert not held
  finally:
    holder.kill()
    holder.wait()
  deadline = time.monotonic() + 10
  while True:
    with workdir.claim(tmp_path / 'run') as held:
      if held or time.monotonic() > deadline:
        break
  assert held
