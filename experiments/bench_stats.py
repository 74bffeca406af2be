"""Summaries the benchmark scripts share: every figure is measured several times and
reported with its spread; ratios are taken within a repeat, then summarised."""

import numpy as np


def spread(values) -> dict:
  """``{"median", "min", "max", "samples"}`` of one figure's samples."""
  values = [float(v) for v in values]
  return {'median': float(np.median(values)), 'min': min(values), 'max': max(values),
          'samples': values}


def ratios(numerators, denominators) -> list:
  """Per-repeat ratios of two figures measured in the same repeats."""
  return [a / b for a, b in zip(numerators, denominators)]
