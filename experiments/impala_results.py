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
``store_run``, ``regenerate`` and ``plot_run`` write. The parts every results folder shares
(storing a log, listing runs, the window mean, plots) are in ``experiments/results_store.py``.

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
import json
import math
import os
import pathlib
from typing import Any, NamedTuple

from experiments import results_store

# arXiv 1802.01561, Table C.1: single-game experts after 200M frames (up to 30 no-op
# starts), the shallow (A3C) and deep (15-layer ResNet) nets.
PAPER_SCORES = {
    'pong': {'shallow': 20.40, 'deep': 20.98},
    'breakout': {'shallow': 640.43, 'deep': 787.34},
}
LAST_GAMES = 20
ENV_FPS_RECORDS = 10  # env frames/s: the mean over the newest this many log records

RUNS_DIRNAME = results_store.RUNS_DIRNAME
METRICS_FILENAME = results_store.METRICS_FILENAME
RUN_INFO_FILENAME = results_store.RUN_INFO_FILENAME
README_FILENAME = results_store.README_FILENAME
SUMMARY_FILENAME = results_store.SUMMARY_FILENAME
REGENERATE_COMMAND = 'python scripts/reproduce_impala.py --regenerate_only'
PLOT_KEYS = ('episode_return', 'env_fps', 'entropy')
NONE = results_store.NONE
_number = results_store.number
_table = results_store.markdown_table


FinalEval = results_store.FinalEval  # the final policy's score over n full games


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


Outputs = results_store.Outputs


# --- Reading and writing runs ------------------------------------------------------------


read_metrics = results_store.read_metrics  # reads .jsonl and .jsonl.gz alike


def run_name(game: str, variants: str, seed: int) -> str:
  """``pong-seed0`` (the paper's settings), ``pong-replay-adam-seed1``."""
  return '-'.join(filter(None, [game, variants.replace(',', '-'), f'seed{seed}']))



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
  results_store.require_fields(data, ('game', 'variants', 'seed', 'frame_budget', 'target'),
                               source)
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
  return [load_run(d) for d in results_store.run_dirs(results_dir)]


def store_run(metrics_path: str | os.PathLike, results_dir: str | os.PathLike, name: str,
              info: RunInfo) -> pathlib.Path:
  """Copies a workdir's ``metrics.jsonl`` gzipped (deterministic bytes: no mtime, no file
  name) to ``results_dir/runs/<name>/`` and writes its ``run.json``. Returns that folder."""
  run_dir = results_store.run_dir_of(results_dir, name)
  results_store.store_metrics(metrics_path, run_dir)
  results_store.write_run_info(run_dir, info_to_json(info))
  return run_dir


# --- The figures --------------------------------------------------------------------------


drop_superseded = results_store.drop_superseded


def last_games_means(records: Sequence[Mapping[str, Any]],
                     last_games: int = LAST_GAMES) -> list[WindowMean]:
  """The window mean at each record where the newest intervals hold >= ``last_games`` games
  (``results_store.last_episodes_means``, in games: an Atari episode here is a full game).
  """
  return [WindowMean(*w) for w in results_store.last_episodes_means(records, last_games)]


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
  return RunSummary(
      frames=int(records[-1]['frames']) if records else 0,
      final_return=final.mean if final else None,
      final_games=final.games if final else 0,
      best_return=max(w.mean for w in means) if means else None,
      target=target,
      frames_to_target=frames_to_target,
      met=met,
      env_fps=results_store.recent_mean(records, 'env_fps', ENV_FPS_RECORDS))


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
      '(not recomputable); the settings the README cites were rerun and are in the table below.',
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
  return results_store.render_folder(results_dir, load_runs, summarise, render_readme,
                                     summary_records)


def regenerate(results_dir: str | os.PathLike) -> str:
  """Rewrites ``results_dir``'s README.md and summary.json from its committed runs alone.

  Returns the README text.
  """
  return results_store.regenerate(results_dir, render_outputs)


def plot_run(run_dir: str | os.PathLike, keys: Sequence[str] = PLOT_KEYS) -> list[str]:
  """Learning-curve PNGs of a committed run, drawn from its ``metrics.jsonl.gz`` into
  ``run_dir`` (the keys the log has; x: frames). Returns the paths written."""
  return results_store.plot_run(run_dir, keys)
