"""Summaries the benchmark scripts share: every figure is measured several times and
reported with its spread; ratios are taken within a repeat, then summarised."""

import json
import pathlib
import time

import jax
import numpy as np


def spread(values) -> dict:
  """``{"median", "min", "max", "samples"}`` of one figure's samples."""
  values = [float(v) for v in values]
  return {'median': float(np.median(values)), 'min': min(values), 'max': max(values),
          'samples': values}


def ratios(numerators, denominators) -> list:
  """Per-repeat ratios of two figures measured in the same repeats."""
  return [a / b for a, b in zip(numerators, denominators)]


def print_and_write(report: dict, path) -> None:
  """Prints ``report`` as JSON and writes it to ``path`` (creating its folder)."""
  text = json.dumps(report, indent=2)
  print(text)
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text + '\n')


def seconds_per_call(fn, *args, min_seconds: float = 1.0) -> float:
  """Mean seconds of ``fn(*args)`` (results blocked on) over calls filling at least
  ``min_seconds``, after one untimed call (compilation, warm-up)."""
  jax.block_until_ready(fn(*args))
  calls, start = 0, time.perf_counter()
  while True:
    jax.block_until_ready(fn(*args))
    calls += 1
    elapsed = time.perf_counter() - start
    if elapsed >= min_seconds:
      return elapsed / calls
