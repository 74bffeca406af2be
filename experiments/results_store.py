"""What every committed-results module shares: the run folders, their raw metrics, the window.

A results folder (``results/impala/``, ``results/a3c/``) holds one folder per run under
``runs/<run-name>/``: the run's training log, ``metrics.jsonl.gz`` (``core.metrics`` JSONL,
gzipped with deterministic bytes so that storing the same log twice changes nothing in git),
and ``run.json``, whose fields each results module defines. The README.md and summary.json
beside ``runs/`` are generated from those alone. This module holds the parts that do not
depend on what a run is: storing and listing runs, dropping the records a resume
superseded, the mean of the newest episodes, recent means and the learning-curve PNGs.
"""

from collections.abc import Mapping, Sequence
import gzip
import json
import math
import os
import pathlib
import shutil
import tempfile
from typing import Any, NamedTuple

from core import metrics as metrics_lib

RUNS_DIRNAME = 'runs'
METRICS_FILENAME = 'metrics.jsonl.gz'
RUN_INFO_FILENAME = 'run.json'
README_FILENAME = 'README.md'
SUMMARY_FILENAME = 'summary.json'

read_metrics = metrics_lib.read_metrics  # reads .jsonl and .jsonl.gz alike


class FinalEval(NamedTuple):
  """The final policy's score over ``n`` finished episodes (population std)."""
  mean: float
  std: float
  n: int


class WindowMean(NamedTuple):
  """The mean return of the newest episodes at one log record."""
  frames: int     # the record's x (frames)
  mean: float
  episodes: int   # episodes pooled (>= the window's size)


# --- Run folders ---------------------------------------------------------------------------


def run_dir_of(results_dir: str | os.PathLike, name: str) -> pathlib.Path:
  return pathlib.Path(results_dir) / RUNS_DIRNAME / name


def run_dirs(results_dir: str | os.PathLike) -> list[pathlib.Path]:
  """The run folders under ``results_dir/runs/``, by name; a folder without run.json (a
  run being stored, a stray folder) is not a run."""
  runs_dir = pathlib.Path(results_dir) / RUNS_DIRNAME
  if not runs_dir.is_dir():
    return []
  return [d for d in sorted(runs_dir.iterdir())
          if d.is_dir() and (d / RUN_INFO_FILENAME).exists()]


def store_metrics(metrics_path: str | os.PathLike, run_dir: str | os.PathLike) -> pathlib.Path:
  """Copies a workdir's ``metrics.jsonl`` gzipped into ``run_dir`` and returns its path.

  The gzip header holds no mtime and no file name, so the same log always gives the same
  bytes; the copy goes through a temporary file so a reader never sees half of it.
  """
  run_dir = pathlib.Path(run_dir)
  run_dir.mkdir(parents=True, exist_ok=True)
  tmp = run_dir / (METRICS_FILENAME + '.tmp')
  with open(metrics_path, 'rb') as src, open(tmp, 'wb') as raw:
    with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0) as dst:
      shutil.copyfileobj(src, dst)
  path = run_dir / METRICS_FILENAME
  os.replace(tmp, path)
  return path


def write_text_atomically(path: str | os.PathLike, text: str) -> pathlib.Path:
  """Writes ``text`` through a temporary file and a rename, so that a reader (a sweep's
  sibling process regenerating the tables) never sees half of it."""
  path = pathlib.Path(path)
  tmp = path.with_name(f'{path.name}.{os.getpid()}.tmp')
  tmp.write_text(text, encoding='utf-8')
  os.replace(tmp, path)
  return path


def write_run_info(run_dir: str | os.PathLike, info: Mapping[str, Any]) -> pathlib.Path:
  """Writes ``run_dir/run.json`` (indented, one trailing newline: stable diffs)."""
  run_dir = pathlib.Path(run_dir)
  run_dir.mkdir(parents=True, exist_ok=True)
  return write_text_atomically(run_dir / RUN_INFO_FILENAME,
                               json.dumps(dict(info), indent=2) + '\n')


def read_run_info(run_dir: str | os.PathLike) -> dict[str, Any]:
  return json.loads((pathlib.Path(run_dir) / RUN_INFO_FILENAME).read_text(encoding='utf-8'))


def require_fields(data: Mapping[str, Any], fields: Sequence[str], source: str) -> None:
  """Raises ValueError naming the fields of ``fields`` that ``data`` lacks."""
  missing = [k for k in fields if k not in data]
  if missing:
    raise ValueError(f'{source}: missing {", ".join(missing)}')


class Outputs(NamedTuple):
  """What a results folder's generated files hold."""
  readme: str
  summary_json: str


def render(rows: Sequence[Any], render_readme, summary_records) -> Outputs:
  """README.md and summary.json of ``rows`` (a results module's summaries)."""
  return Outputs(render_readme(rows),
                 json.dumps(summary_records(rows), indent=2, allow_nan=False) + '\n')


def render_folder(results_dir: str | os.PathLike, load_runs, summarise, render_readme,
                  summary_records) -> Outputs:
  """README.md and summary.json of ``results_dir``'s committed runs (a results module's
  ``load_runs`` and ``summarise``, then ``render``); writes nothing."""
  return render([summarise(run) for run in load_runs(results_dir)], render_readme,
                summary_records)


def regenerate(results_dir: str | os.PathLike, render_outputs) -> str:
  """Rewrites ``results_dir``'s README.md and summary.json with
  ``render_outputs(results_dir)`` (from its committed runs alone); returns the README."""
  outputs = render_outputs(results_dir)
  write_outputs(results_dir, outputs.readme, outputs.summary_json)
  return outputs.readme


def write_outputs(results_dir: str | os.PathLike, readme: str, summary_json: str) -> None:
  """Writes the generated README.md and summary.json of ``results_dir``."""
  results_dir = pathlib.Path(results_dir)
  results_dir.mkdir(parents=True, exist_ok=True)
  write_text_atomically(results_dir / README_FILENAME, readme)
  write_text_atomically(results_dir / SUMMARY_FILENAME, summary_json)


# --- Figures of records ---------------------------------------------------------------------


def is_number(value: Any) -> bool:
  """A finite int or float (not a bool, not NaN: a JSON null reads as NaN)."""
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def drop_superseded(records: Sequence[Mapping[str, Any]], x: str = 'frames') -> list[dict]:
  """Records with ``x``, without those a resume superseded.

  A resumed run logs again the frames after its last checkpoint; the records of the
  session that was cut off at or beyond the point it resumed from are dropped (as in
  ``core.plots``, the run that continued wins), so no interval's episodes count twice.
  """
  kept: list[dict] = []
  for record in records:
    value = record.get(x)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
      continue
    while kept and kept[-1][x] >= value:
      kept.pop()
    kept.append(dict(record))
  return kept


def last_episodes_means(records: Sequence[Mapping[str, Any]], last: int,
                        x: str = 'frames') -> list[WindowMean]:
  """The window mean at each record where the newest intervals hold >= ``last`` episodes.

  Each record averages the episodes that ended in its interval (``episode_return`` over
  ``episodes``); the newest intervals are pooled, weighted by their episode counts, until
  they hold ``last`` episodes, so one busy interval does not outweigh its neighbours.
  Records without finished episodes (no ``episodes`` or ``episode_return``) add nothing.
  """
  episodes = [r for r in records
              if r.get('episodes') and not math.isnan(r.get('episode_return', math.nan))]
  out = []
  for end in range(len(episodes)):
    total, count = 0.0, 0
    for record in reversed(episodes[:end + 1]):
      total += record['episode_return'] * record['episodes']
      count += int(record['episodes'])
      if count >= last:
        break
    if count >= last:
      out.append(WindowMean(int(episodes[end][x]), total / count, count))
  return out


def recent_mean(records: Sequence[Mapping[str, Any]], key: str, count: int) -> float | None:
  """The mean of ``key`` over the newest ``count`` records, skipping non-finite values
  (e.g. an interval too short to measure); None if none is finite."""
  values = [r[key] for r in records[-count:] if is_number(r.get(key))]
  return sum(values) / len(values) if values else None


# --- Rendering --------------------------------------------------------------------------------

NONE = '—'  # a figure that does not exist (no data, no target)


def number(value: float | None, fmt: str = '.1f') -> str:
  """``value`` formatted, or ``NONE``."""
  return NONE if value is None else format(value, fmt)


def markdown_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
  """A markdown table; ends without a newline."""
  rows = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  rows += ['| ' + ' | '.join(cells) + ' |' for cells in lines]
  return '\n'.join(rows)


def censored_median(values: Sequence[float | None]) -> float | None:
  """The median where None (never reached) ranks above every number; None if the median
  falls on a None."""
  ranked = sorted(values, key=lambda v: math.inf if v is None else v)
  n = len(ranked)
  if not n:
    return None
  middle = ranked[(n - 1) // 2:n // 2 + 1]
  if any(v is None for v in middle):
    return None
  return sum(middle) / len(middle)


# --- Plots ----------------------------------------------------------------------------------


def plot_run(run_dir: str | os.PathLike, keys: Sequence[str], x: str = 'frames') -> list[str]:
  """Learning-curve PNGs of a stored run, drawn from its ``metrics.jsonl.gz`` into
  ``run_dir`` (the keys the log has a finite value of, against ``x``). Returns the paths."""
  from core import plots  # pylint: disable=g-import-not-at-top  (matplotlib: only when drawing)
  run_dir = pathlib.Path(run_dir)
  records = read_metrics(run_dir / METRICS_FILENAME)
  present = [k for k in keys if any(is_number(r.get(k)) for r in records)]
  if not present:
    return []
  with tempfile.TemporaryDirectory() as tmp:
    path = pathlib.Path(tmp) / metrics_lib.METRICS_FILENAME
    with gzip.open(run_dir / METRICS_FILENAME, 'rb') as src, open(path, 'wb') as dst:
      shutil.copyfileobj(src, dst)
    return plots.plot_metrics(path, run_dir, x=x, keys=present)


# --- Comparing runs ---------------------------------------------------------------------------


class FrameWindow(NamedTuple):
  """The episodes that ended in ``[start, end)`` frames: their mean return and count."""
  start: int
  end: int
  mean: float | None
  episodes: int


def frame_windows(records: Sequence[Mapping[str, Any]], width: int,
                  x: str = 'frames') -> list[FrameWindow]:
  """Mean return of the episodes ending in each ``width``-frame window, from the start of
  the log to its last record (each record's episodes counted at its ``x``; a resume's
  superseded records dropped). A window without episodes has mean None."""
  records = drop_superseded(records, x)
  if not records:
    return []
  last = int(records[-1][x])
  windows = []
  for start in range(0, last, width):
    total, count = 0.0, 0
    for r in records:
      if start < r[x] <= start + width and r.get('episodes') and is_number(
          r.get('episode_return')):
        total += r['episode_return'] * r['episodes']
        count += int(r['episodes'])
    windows.append(FrameWindow(start, start + width, total / count if count else None, count))
  return windows
