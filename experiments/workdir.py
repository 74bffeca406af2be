"""What every training loop does with its workdir: config, provenance, final result."""

import contextlib
import fcntl
import json
import pathlib
from typing import Callable, Iterator, NamedTuple

from core import provenance


class TrainResult(NamedTuple):
  updates: int              # updates done in total (across resumes)
  frames: int               # environment frames (or examples) consumed in total
  train_return: float       # mean return of the most recent training episodes (NaN if none)
  eval_return: float        # mean return of the final evaluation (NaN if none)
  target_return: float | None
  wall_time_s: float        # this process's time
  metrics_path: str
  plot_paths: list[str]
  interrupted: str | None = None  # the signal that stopped the run early (e.g. 'SIGINT')
  eval_metrics: dict = {}   # the final evaluation's metrics (supervised runs)


def prepare(workdir, config, print_fn: Callable[[str], None]) -> pathlib.Path:
  """Creates ``workdir`` and writes the resolved config (keeping a differing old one)."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  path = workdir / 'config.json'
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  if path.exists() and path.read_text() != text:
    print_fn(f"note: {path} differs from this launch's config; keeping the previous one as "
             f'config.previous.json')
    path.replace(workdir / 'config.previous.json')
  path.write_text(text)
  return workdir


def write_provenance(workdir: pathlib.Path, seed: int, start_update: int) -> None:
  """The first launch's provenance stays in provenance.json; each resume adds its own."""
  launch = provenance.collect(seed)
  if start_update:
    (workdir / f'provenance.resume-{start_update}.json').write_text(
        json.dumps(dict(launch, resumed_from_update=start_update), indent=2, default=str))
  else:
    provenance.write(workdir, launch)


CLAIM_FILENAME = 'claim.lock'


@contextlib.contextmanager
def claim(workdir) -> Iterator[bool]:
  """Yields whether this process may train ``workdir``: True while it holds the claim.

  A sweep started once per core (each process walking the same plan) must not train one
  run twice, so each run is claimed with an exclusive lock on ``claim.lock`` in its
  workdir. The kernel drops the lock when its process ends, however it ends, so a killed
  sweep's runs are free again for the rerun that resumes them.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  with open(workdir / CLAIM_FILENAME, 'a') as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      yield False
      return
    try:
      yield True
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
