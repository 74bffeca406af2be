"""Fixtures shared by the test folders."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def run_on_virtual_cpus():
  """``run(script, devices, timeout_s) -> dict``: runs ``python -c script`` from the repo root
  with ``devices`` virtual CPU devices (XLA reads the flag at start-up, hence a subprocess)
  and returns the JSON object on its last line of output."""

  def run(script: str, devices: int, timeout_s: int = 300) -> dict:
    env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
               JAX_PLATFORMS='cpu')
    proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])

  return run
