"""Summaries the benchmark scripts share: every figure is measured several times and
reported with its spread; ratios are taken within a repeat, then summarised."""

import json
import pathlib

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
