"""The loop of a reproduction script: train each run of a plan unless it is stored or taken.

A plan is a sequence of ``(name, train)``: the run's name (its workdir under ``runs`` and
its folder under ``<out>/runs/``) and a function that trains it and stores its metrics.
With ``skip_existing`` a run whose results are stored already (``run.json``, committed by
an earlier session whose workdirs are gone) is skipped. Every run is claimed while it
trains (``workdir.claim``), so the same command started once per core spreads a sweep
over the cores: each process skips the runs another one holds, and those another one
stored after this sweep began (without ``skip_existing`` too).
"""

import os
import pathlib
import time
from typing import Callable, Iterable

from experiments import results_store
from experiments import workdir as workdir_lib


def run_plan(plan: Iterable[tuple[str, Callable[[], None]]], *,
             out: str | os.PathLike, runs: str | os.PathLike, skip_existing: bool,
             after_each: Callable[[], None] | None = None,
             print_fn: Callable[[str], None] = print) -> list[str]:
  """Trains the plan's runs in order; returns the names this process trained.

  ``after_each`` runs after each trained run (e.g. regenerating the tables, so that a
  sweep cut short still leaves current ones).
  """
  started = time.time()

  def done(stored: pathlib.Path) -> bool:
    # Stored by an earlier session (with skip_existing), or by a sibling process of this
    # sweep since it started: the same command on another core must not train it again.
    return stored.exists() and (skip_existing or stored.stat().st_mtime >= started)

  trained = []
  for name, train in plan:
    stored = results_store.run_dir_of(out, name) / results_store.RUN_INFO_FILENAME
    if done(stored):
      print_fn(f'{name}: stored already, skipped')
      continue
    with workdir_lib.claim(pathlib.Path(runs) / name) as held:
      if not held:
        print_fn(f'{name}: being trained by another process, skipped')
        continue
      if done(stored):   # finished by another process while this one reached it
        print_fn(f'{name}: stored meanwhile by another process, skipped')
        continue
      train()
    trained.append(name)
    if after_each is not None:
      after_each()
  return trained
