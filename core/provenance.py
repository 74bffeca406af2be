"""What produced a run: code revision, package versions, hardware, command, seed.

Written once per launch as ``workdir/provenance.json`` so that a number in a table can
be traced back to the code and environment that made it.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

PROVENANCE_FILENAME = 'provenance.json'

# Distribution names (as pip knows them) whose versions decide the results.
PACKAGES = (
    'jax',
    'jaxlib',
    'flax',
    'optax',
    'chex',
    'rlax',
    'orbax-checkpoint',
    'gymnasium',
    'ale-py',
    'numpy',
)

# The repository this package was imported from (an editable install).
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> str | None:
  """Output of a git command in the repository root, or None if it fails."""
  try:
    result = subprocess.run(
        ['git', '-C', _REPO_ROOT, *args],
        capture_output=True, text=True, timeout=10, check=False)
  except (OSError, subprocess.SubprocessError):
    return None
  return result.stdout.strip() if result.returncode == 0 else None


def git_info() -> dict[str, Any]:
  """The code's git revision and whether tracked files differ from it.

  Returns:
    ``{'revision': sha or None, 'dirty': bool or None}``; None where the code does
    not come from a git checkout (e.g. a wheel install) or git is unavailable.
  """
  top = _git('rev-parse', '--show-toplevel')
  # An installed copy may sit inside some other repository (a venv in a checkout);
  # only a repository rooted exactly at the package's parent describes this code.
  if top is None or os.path.realpath(top) != os.path.realpath(_REPO_ROOT):
    return {'revision': None, 'dirty': None}
  status = _git('status', '--porcelain', '--untracked-files=no')
  return {
      'revision': _git('rev-parse', 'HEAD'),  # None before the first commit.
      'dirty': None if status is None else bool(status),
  }


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str | None]:
  """Installed version of each distribution, None if it is not installed."""
  versions = {}
  for name in packages:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = None
  return versions


def jax_info() -> dict[str, Any]:
  """The JAX backend and devices this process sees (initialises the backend)."""
  try:
    import jax  # pylint: disable=g-import-not-at-top
    return {
        'backend': jax.default_backend(),
        'devices': [str(device) for device in jax.devices()],
        'device_kinds': sorted({device.device_kind for device in jax.devices()}),
        'process_count': jax.process_count(),
    }
  except Exception as e:  # pylint: disable=broad-except
    # Provenance must never stop a launch; record why the backend was unavailable.
    return {'backend': None, 'devices': None, 'error': f'{type(e).__name__}: {e}'}


def collect(seed: int, argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Gathers the provenance of a launch.

  Args:
    seed: the run's seed.
    argv: the command line; ``sys.argv`` if None.

  Returns:
    A JSON-serialisable dict with keys ``git``, ``python``, ``platform``, ``jax``,
    ``packages``, ``argv``, ``seed`` and ``time_utc``.
  """
  argv = list(sys.argv if argv is None else argv)
  return {
      'git': git_info(),
      'python': sys.version,
      'platform': platform.platform(),
      'jax': jax_info(),
      'packages': package_versions(),
      'argv': [str(arg) for arg in argv],
      'seed': int(seed),
      'time_utc': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
  }


def write(workdir: str | os.PathLike, provenance: dict[str, Any]) -> str:
  """Writes ``workdir/provenance.json`` and returns its path."""
  workdir = os.fspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, PROVENANCE_FILENAME)
  # Write-then-rename so a kill never leaves a truncated file behind.
  tmp_path = path + '.tmp'
  with open(tmp_path, 'w', encoding='utf-8') as f:
    json.dump(provenance, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp_path, path)
  return path
