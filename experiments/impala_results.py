"""The IMPALA Atari results table (results/impala/), recomputed from committed raw metrics.

Every figure of ``results/impala/README.md`` and ``summary.json`` is derived here, and only
from what is committed under ``results/impala/runs/<run-name>/``:

  metrics.jsonl.gz   the run's training log (``core.metrics`` JSONL, gzipped byte for byte)
  run.json           game, variants, seed, frame budget, target (or null) and, when the
                     final policy was evaluated, ``final_eval``: {mean, std, n} over n full
                     games (``core.evaluation.evaluate``)

``scripts/reproduce_impala.py`` trains, stores a run with ``store_run`` and calls
``regenerate``; ``python scripts/reproduce_impala.py --regenerate_only`` rebuilds the table
from the committed data alone. The functions of records and rows (``summarise_run``,
``render_table``, ...) are pure; ``load_run``/``render_outputs`` only read files; only
``store_run``, ``regenerate`` and ``plot_run`` write.

Definitions (the table's columns):
  window mean   the mean unclipped full-game score of the newest >= ``LAST_GAMES`` games at
                a log record: each record averages the games that ended in its interval,
                and the newest intervals are pooled, weighted by their game counts, until
                they hold ``LAST_GAMES`` games.
  final / best  the window mean at the last record / its maximum over the run.
  first ≥ target  the frames of the first record whose window mean reached the target.
  met           the FINAL window mean is >= the target. A noisy window that touches the
                target and falls back does not count.
A game without a target (``target`` null in run.json) shows "—" in the target columns.
"""

from collections.abc import Iterable, Mapping, Sequence
import gzip
import json
import math
import os
import pathlib
import shutil
import tempfile
from typing import Any, NamedTuple

from core import metrics as metrics_lib

# arXiv 1802.01561, Table C.1: single-game experts after 200M frames (up to 30 no-op
# starts), the shallow (A3C) and deep (15-layer ResNet) nets.
PAPER_SCORES = {
    'pong': {'shallow': 20.40, 'deep': 20.98},
    'breakout': {'shallow': 640.43, 'deep': 787.34},
}
LAST_GAMES = 20
ENV_FPS_RECORDS = 10  # env frames/s: the mean over the newest this many log records

RUNS_DIRNAME = 'runs'
METRICS_FILENAME = 'metrics.jsonl.gz'
RUN_INFO_FILENAME = 'run.json'
README_FILENAME = 'README.md'
SUMMARY_FILENAME = 'summary.json'
REGENERATE_COMMAND = 'python scripts/reproduce_impala.py --regenerate_only'
PLOT_KEYS = ('episode_return', 'env_fps', 'entropy')
NONE = '—'


class FinalEval(NamedTuple):
  """The final policy's score over ``n`` full games."""
  mean: float
  std: float
  n: int


class RunInfo(NamedTuple):
  """A run's ``run.json``."""
  game: str
  variants: str        # configs/impala_atari.py variants, comma-separated; 'paper' if none
  seed: int
  frame_budget: int
  target: float | None
  final_eval: FinalEval | None = None


class WindowMean(NamedTuple):
  frames: int
  mean: float
  games: int


class RunSummary(NamedTuple):
  """The figures of one run; None where there is nothing to compute them from."""
  frames: int                    # frames trained (the last log record's)
  final_return: float | None     # window mean at the end
  final_games: int               # games in that window (0: fewer than LAST_GAMES in all)
  best_return: float | None      # best window mean
  target: float | None
  frames_to_target: int | None   # first record whose window mean >= target
  met: bool | None               # final window mean >= target; None without a target
  env_fps: float | None          # mean env frames/s of the newest ENV_FPS_RECORDS records


class Run(NamedTuple):
  name: str
  info: RunInfo
  records: list[dict[str, Any]]


class Row(NamedTuple):
  name: str
  info: RunInfo
  summary: RunSummary


class Outputs(NamedTuple):
  readme: str
  summary_json: str


# --- Reading and writing runs ------------------------------------------------------------


read_metrics = metrics_lib.read_metrics  # reads .jsonl and .jsonl.gz alike


def run_name(game: str, variants: str, seed: int) -> str:
  """``pong``, ``pong-replay-adam``, ``pong-replay-adam-seed1``: seed 0's names have no
  seed (they predate seeds)."""
  seed_suffix = f'seed{seed}' if seed else ''
  return '-'.join(filter(None, [game, variants.replace(',', '-'), seed_suffix]))



def final_eval_from_returns(returns: Iterable[float]) -> FinalEval:
  """Mean, population std and count of the finished games (nan: a game that never ended)."""
  done = [float(r) for r in returns if not math.isnan(float(r))]
  if not done:
    raise ValueError('no evaluation game finished')
  mean = sum(done) / len(done)
  std = math.sqrt(sum((r - mean)**2 for r in done) / len(done))
  return FinalEval(mean, std, len(done))


def info_to_json(info: RunInfo) -> dict[str, Any]:
  out = info._asdict()
  out['final_eval'] = None if info.final_eval is None else info.final_eval._asdict()
  return out


def info_from_json(data: Mapping[str, Any], source: str = RUN_INFO_FILENAME) -> RunInfo:
  missing = [k for k in ('game', 'variants', 'seed', 'frame_budget', 'target') if k not in data]
  if missing:
    raise ValueError(f'{source}: missing {", ".join(missing)}')
  final_eval = data.get('final_eval')
  if final_eval is not None:
    final_eval = FinalEval(float(final_eval['mean']), float(final_eval['std']),
                           int(final_eval['n']))
  target = data['target']
  return RunInfo(game=str(data['game']), variants=str(data['variants']), seed=int(data['seed']),
                 frame_budget=int(data['frame_budget']),
                 target=None if target is None else float(target), final_eval=final_eval)


def load_run(run_dir: str | os.PathLike) -> Run:
  """A committed run: ``run_dir/run.json`` and ``run_dir/metrics.jsonl.gz``."""
  run_dir = pathlib.Path(run_dir)
  info_path = run_dir / RUN_INFO_FILENAME
  info = info_from_json(json.loads(info_path.read_text(encoding='utf-8')), str(info_path))
  return Run(run_dir.name, info, read_metrics(run_dir / METRICS_FILENAME))


def load_runs(results_dir: str | os.PathLike) -> list[Run]:
  """Every run under ``results_dir/runs/``, by name; a folder without run.json is skipped."""
  runs_dir = pathlib.Path(results_dir) / RUNS_DIRNAME
  if not runs_dir.is_dir():
    return []
  return [load_run(d) for d in sorted(runs_dir.iterdir())
          if d.is_dir() and (d / RUN_INFO_FILENAME).exists()]


def store_run(metrics_path: str | os.PathLike, results_dir: str | os.PathLike, name: str,
              info: RunInfo) -> pathlib.Path:
  """Copies a workdir's ``metrics.jsonl`` gzipped (deterministic bytes: no mtime, no file
  name) to ``results_dir/runs/<name>/`` and writes its ``run.json``. Returns that folder."""
  run_dir = pathlib.Path(results_dir) / RUNS_DIRNAME / name
  run_dir.mkdir(parents=True, exist_ok=True)
  tmp = run_dir / (METRICS_FILENAME + '.tmp')
  with open(metrics_path, 'rb') as src, open(tmp, 'wb') as raw:
    with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0) as dst:
      shutil.copyfileobj(src, dst)
  os.replace(tmp, run_dir / METRICS_FILENAME)
  (run_dir / RUN_INFO_FILENAME).write_text(
      json.dumps(info_to_json(info), indent=2) + '\n', encoding='utf-8')
  return run_dir


# --- The figures --------------------------------------------------------------------------


def drop_superseded(records: Sequence[Mapping[str, Any]], x: str = 'frames') -> list[dict]:
  """Records with ``x``, without those a resume superseded.

  A resumed run logs again the frames after its last checkpoint; the records of the
  session that was cut off at or beyond the point it resumed from are dropped (as in
  ``core.plots``, the run that continued wins), so no interval's games count twice.
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


def last_games_means(records: Sequence[Mapping[str, Any]],
                     last_games: int = LAST_GAMES) -> list[WindowMean]:
  """The window mean at each record where the newest intervals hold >= ``last_games`` games.

  Records without finished games (no ``episodes`` or ``episode_return``) add nothing.
  """
  episodes = [r for r in records
              if r.get('episodes') and not math.isnan(r.get('episode_return', math.nan))]
  out = []
  for end in range(len(episodes)):
    total, count = 0.0, 0
    for record in reversed(episodes[:end + 1]):
      total += record['episode_return'] * record['episodes']
      count += int(record['episodes'])
      if count >= last_games:
        break
    if count >= last_games:
      out.append(WindowMean(int(episodes[end]['frames']), total / count, count))
  return out


def summarise_run(records: Sequence[Mapping[str, Any]], *, target: float | None,
                  last_games: int = LAST_GAMES) -> RunSummary:
  """The table's figures of one run's metrics records."""
  records = drop_superseded(records)
  means = last_games_means(records, last_games)
  final = means[-1] if means else None
  frames_to_target = met = None
  if target is not None:
    frames_to_target = next((w.frames for w in means if w.mean >= target), None)
    met = final is not None and final.mean >= target
  fps = [r['env_fps'] for r in records[-ENV_FPS_RECORDS:]
         if isinstance(r.get('env_fps'), (int, float)) and math.isfinite(r['env_fps'])]
  return RunSummary(
      frames=int(records[-1]['frames']) if records else 0,
      final_return=final.mean if final else None,
      final_games=final.games if final else 0,
      best_return=max(w.mean for w in means) if means else None,
      target=target,
      frames_to_target=frames_to_target,
      met=met,
      env_fps=sum(fps) / len(fps) if fps else None)


def summarise(run: Run) -> Row:
  return Row(run.name, run.info, summarise_run(run.records, target=run.info.target))


def paper_score(game: str, variants: str) -> tuple[str, float] | None:
  """(net, score) of the paper's Table C.1 for this game and net; None if it has none."""
  net = 'deep' if 'deep' in variants.split(',') else 'shallow'
  score = PAPER_SCORES.get(game, {}).get(net)
  return None if score is None else (net, score)


# --- Rendering ----------------------------------------------------------------------------

TABLE_HEADER = (
    '| game | variants | seed | frames trained | final mean (games) | best mean | '
    'first ≥ target (frames) | met at end | final policy (full games) | env frames/s | '
    'paper (200M frames) |')


def _number(value: float | None, fmt: str = '.1f') -> str:
  return NONE if value is None else format(value, fmt)


def render_row(row: Row) -> str:
  info, s = row.info, row.summary
  if s.target is None:
    to_target = met = NONE
  else:
    to_target = (f'{s.frames_to_target:,}' if s.frames_to_target is not None
                 else 'not reached')
    to_target += f' (≥ {s.target:+g})'
    met = f"{'yes' if s.met else 'no'} (≥ {s.target:+g})"
  final = NONE if s.final_return is None else f'{s.final_return:.1f} ({s.final_games})'
  evaluation = NONE if info.final_eval is None else (
      f'{info.final_eval.mean:.1f} ± {info.final_eval.std:.1f} (n={info.final_eval.n})')
  paper = paper_score(info.game, info.variants)
  paper_text = NONE if paper is None else f'{paper[1]:.2f} ({paper[0]})'
  cells = [info.game, info.variants, str(info.seed), f'{s.frames:,}', final,
           _number(s.best_return), to_target, met, evaluation, _number(s.env_fps, ',.0f'),
           paper_text]
  return '| ' + ' | '.join(cells) + ' |'


def render_table(rows: Sequence[Row]) -> str:
  """The markdown table, one line per row, in the given order; ends without a newline."""
  separator = '|' + '---|' * TABLE_HEADER.count(' | ') + '---|'
  return '\n'.join([TABLE_HEADER, separator] + [render_row(row) for row in rows])


def render_readme(rows: Sequence[Row]) -> str:
  """The whole of results/impala/README.md."""
  if rows:
    runs = '\n'.join(f'- `runs/{row.name}/`' for row in rows)
  else:
    runs = '- none yet: every run made so far predates committed raw metrics (NOTES.md).'
  lines = [
      '# IMPALA on Atari: reproduction runs',
      '',
      f'Generated, do not edit: `{REGENERATE_COMMAND}` rebuilds this file and `summary.json` '
      'from the raw data committed under `runs/<run>/` (`metrics.jsonl.gz`, the training log; '
      '`run.json`, the game, variants, seed, frame budget, target and final-policy '
      'evaluation), with `experiments/impala_results.py`. A run is trained and added with '
      '`python scripts/reproduce_impala.py --games=<game> --frames=<frames> '
      '--variants=<variants> --seed=<seed>`; "paper" is the default of '
      "configs/impala_atari.py, the paper's settings, and the variants are described in "
      'that file.',
      '',
      'Runs with committed raw data:',
      '',
      runs,
      '',
      f'"final mean" / "best mean": mean unclipped full-game score of the newest '
      f'≥ {LAST_GAMES} games of training at the end / at its best (games in the final window '
      'in brackets). "first ≥ target": the first log point where that mean reached the '
      'target. "met at end": whether the FINAL mean is at or above the target (a window '
      'that touched it and fell back does not count); "—" where the game has no target. '
      '"final policy": the last checkpoint evaluated over n full games (mean ± std). '
      f'"env frames/s": the mean over the newest {ENV_FPS_RECORDS} log records. "paper": '
      "arXiv 1802.01561 Table C.1, after 200M frames, for the run's net.",
      '',
      'Older runs, whose raw metrics were not kept, are in NOTES.md as historical numbers '
      '(not recomputable, pending rerun).',
      '',
      render_table(rows),
  ]
  return '\n'.join(lines) + '\n'


def summary_records(rows: Sequence[Row]) -> list[dict[str, Any]]:
  """summary.json: one object per run, its run.json fields and its figures."""
  out = []
  for row in rows:
    record = {'name': row.name}
    record.update(info_to_json(row.info))
    record.update(row.summary._asdict())
    out.append(record)
  return out


def render_outputs(results_dir: str | os.PathLike) -> Outputs:
  """README.md and summary.json as ``regenerate`` would write them; writes nothing."""
  rows = [summarise(run) for run in load_runs(results_dir)]
  return Outputs(render_readme(rows),
                 json.dumps(summary_records(rows), indent=2, allow_nan=False) + '\n')


def regenerate(results_dir: str | os.PathLike) -> str:
  """Rewrites ``results_dir``'s README.md and summary.json from its committed runs alone.

  Returns the README text.
  """
  results_dir = pathlib.Path(results_dir)
  outputs = render_outputs(results_dir)
  results_dir.mkdir(parents=True, exist_ok=True)
  (results_dir / README_FILENAME).write_text(outputs.readme, encoding='utf-8')
  (results_dir / SUMMARY_FILENAME).write_text(outputs.summary_json, encoding='utf-8')
  return outputs.readme


def plot_run(run_dir: str | os.PathLike, keys: Sequence[str] = PLOT_KEYS) -> list[str]:
  """Learning-curve PNGs of a committed run, drawn from its ``metrics.jsonl.gz`` into
  ``run_dir`` (the keys the log has; x: frames). Returns the paths written."""
  from core import plots  # pylint: disable=g-import-not-at-top  (matplotlib: only when drawing)
  run_dir = pathlib.Path(run_dir)
  records = read_metrics(run_dir / METRICS_FILENAME)
  present = [k for k in keys if any(k in r for r in records)]
  if not present:
    return []
  with tempfile.TemporaryDirectory() as tmp:
    path = pathlib.Path(tmp) / metrics_lib.METRICS_FILENAME
    with gzip.open(run_dir / METRICS_FILENAME, 'rb') as src, open(path, 'wb') as dst:
      shutil.copyfileobj(src, dst)
    return plots.plot_metrics(path, run_dir, x='frames', keys=present)
