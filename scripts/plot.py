"""Plots a run's metrics: one PNG per metric from ``<workdir>/metrics.jsonl``.

  python scripts/plot.py --workdir=runs/pong [--keys=return,loss] [--x=step] [--out=dir]

PNGs go to ``<workdir>/plots`` unless ``--out`` is given; their paths are printed.
"""

import os

from absl import app
from absl import flags

from core import metrics
from core import plots

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory holding metrics.jsonl.')
_KEYS = flags.DEFINE_list('keys', None, 'Metrics to plot (default: every numeric one).')
_X = flags.DEFINE_string('x', 'step', 'Record field for the x-axis.')
_OUT = flags.DEFINE_string('out', None, 'Output directory (default: <workdir>/plots).')
flags.mark_flag_as_required('workdir')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  out_dir = _OUT.value or os.path.join(_WORKDIR.value, 'plots')
  try:
    paths = plots.plot_metrics(
        os.path.join(_WORKDIR.value, metrics.METRICS_FILENAME), out_dir,
        x=_X.value, keys=_KEYS.value)
  except (OSError, ValueError) as e:
    # A bad workdir or key is a usage problem: say so in one line, not a traceback.
    raise SystemExit(f'plot.py: {e}') from e
  for path in paths:
    print(path)


if __name__ == '__main__':
  app.run(main)
