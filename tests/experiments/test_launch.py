"""Tests of experiments.launch: scripts re-execute themselves with tcmalloc preloaded."""

import os
import pathlib
import subprocess
import sys

from experiments import launch

ROOT = pathlib.Path(__file__).resolve().parents[2]
_PROBE = '''
import os, sys
from experiments import launch
launch.preload_tcmalloc()
maps = open('/proc/self/maps').read()
print('tcmalloc' in maps, os.environ.get('LD_PRELOAD', ''))
'''


def _probe(**env):
  env = {k: v for k, v in dict(os.environ, **env).items()
         if k not in ('LD_PRELOAD', 'RECURRAX_TCMALLOC_PRELOADED') or k in env}
  out = subprocess.run([sys.executable, '-c', _PROBE], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60, check=True).stdout.split()
  return out[0] == 'True', out[1] if len(out) > 1 else ''


def test_preloads_tcmalloc_when_installed_and_not_when_disabled():
  loaded, preload = _probe()
  if launch.tcmalloc_path() is None:
    assert not loaded and preload == ''
  else:
    assert loaded and launch.tcmalloc_path() in preload
  loaded, _ = _probe(RECURRAX_TCMALLOC='0')
  assert not loaded
