r"""Compares runs' training returns window by window, as a Markdown table.

Each run is a workdir's metrics.jsonl or a committed run's metrics.jsonl.gz; the table
gives, per window of --window frames, the mean return of the episodes that ended in it
(experiments/results_store.frame_windows) and their count.

  python scripts/compare_runs.py --window=250000 \
      results/impala/diagnostics/breakout-old-fcf9af3-seed0/metrics.jsonl.gz \
      results/impala/diagnostics/breakout-new-3404ed3-seed0/metrics.jsonl.gz
"""

import pathlib

from absl import app
from absl import flags

from experiments import results_store

_WINDOW = flags.DEFINE_integer('window', 250_000, 'Frames per window.')


def table(paths, width: int) -> str:
  columns = [results_store.frame_windows(results_store.read_metrics(p), width)
             for p in paths]
  names = [pathlib.Path(p).parent.name or str(p) for p in paths]
  lines = ['| frames | ' + ' | '.join(f'{n} (games)' for n in names) + ' |',
           '|---|' + '---|' * len(paths)]
  for i in range(max(map(len, columns))):
    start, end = i * width, (i + 1) * width
    cells = []
    for column in columns:
      w = column[i] if i < len(column) else None
      cells.append('—' if w is None or w.mean is None else f'{w.mean:.2f} ({w.episodes})')
    lines.append(f'| {start:,}–{end:,} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def main(argv):
  if len(argv) < 2:
    raise app.UsageError('name one or more metrics files')
  print(table(argv[1:], _WINDOW.value))


if __name__ == '__main__':
  app.run(main)
