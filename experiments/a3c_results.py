"""The asynchronous methods' results (results/a3c/), recomputed from committed raw metrics.

Every figure of ``results/a3c/README.md`` and ``summary.json`` is derived here, and only
from what is committed under ``results/a3c/runs/<run-name>/``:

  metrics.jsonl.gz   the run's training log (``core.metrics`` JSONL, gzipped byte for byte)
  run.json           env, algorithm, variants, workers, seed, frame budget, target (or null),
                     reference (or null), ``train_start_unix`` (the unix time just before
                     training started), whether the run was ``resumed``, the machine's
                     ``cpus``, ``final_eval``: {mean, std, n}, the final policy over n
                     fresh episodes (greedy for the Q-learners, sampled for A3C), from the
                     last log record, and ``greedy_eval`` (A3C runs since it was added):
                     the same for the policy's mode (argmax action).

``scripts/reproduce_a3c.py`` trains, stores a run with ``store_run`` and calls
``regenerate``; ``python scripts/reproduce_a3c.py --regenerate_only`` rebuilds the tables
from the committed data alone. The functions of records and rows (``summarise_run``,
``settings``, ``speedups``, ``render_readme``, ...) are pure; ``load_run``/``render_outputs``
only read files; only ``store_run``, ``regenerate`` and ``plot_run`` write.

Definitions:
  window mean    the mean return of the newest >= ``LAST_EPISODES`` training episodes at a
                 log record (``results_store.last_episodes_means``). The Q-learners' training
                 episodes are played ε-greedy, so their window stays below the greedy
                 policy's score; hence the separate, lower ``reference``.
  solved         the final policy's mean (``final_eval``) >= the env's target.
  greedy         the final policy acting by its mode: ``greedy_eval`` for the actor-critic,
                 ``final_eval`` itself for the Q-learners (``GREEDY_EVALUATED``), which are
                 evaluated greedily.
  to reference   the frames / wall seconds of the first record whose window mean reached
                 the reference; seconds = that record's ``time`` - ``train_start_unix``, so
                 they include start-up (worker processes, compilation).
  resumed        a run trained in more than one session: run.json says so, a log record
                 precedes ``train_start_unix``, or two consecutive records are more than
                 ``RESUME_GAP_FACTOR`` times the median spacing apart (the spacing into the
                 last record, which includes the final evaluation, is not counted). Its wall
                 time includes the pause, so it is not timed.
  speed-up       per setting, the median over seeds of the seconds to the reference with
                 1 worker divided by that with w workers; a seed that never reached the
                 reference counts as slower than every seed that did (a censored median:
                 "not reached" when it falls on such a seed).
"""

from collections.abc import Mapping, Sequence
import math
import os
import pathlib
import statistics
from typing import Any, NamedTuple

from experiments import results_store

ALGORITHMS = ('a3c', 'a3c_lstm', 'q1', 'sarsa1', 'qn')
ALGORITHM_LABELS = {
    'a3c': 'A3C',
    'a3c_lstm': 'A3C LSTM',
    'q1': 'one-step Q',
    'sarsa1': 'one-step Sarsa',
    'qn': 'n-step Q',
}
# The scores the speed-up is timed to, per env (training window mean); envs not here have
# none. CartPole: 200, well below its target of 475, which the ε-greedy training episodes of
# the Q-learners do not reach even when their greedy policy does.
REFERENCES = {'cartpole': 200.0}
# Algorithms whose final evaluation already acts greedily (ε = 0).
GREEDY_EVALUATED = frozenset({'q1', 'sarsa1', 'qn'})
# arXiv 1602.01783 Table 2: the average training speed-up over seven Atari games with
# 1/2/4/8/16 actor-learner threads, on 16-core machines.
PAPER_THREADS = (1, 2, 4, 8, 16)
PAPER_SPEEDUPS = {
    'q1': (1.0, 3.0, 6.3, 13.3, 24.1),
    'sarsa1': (1.0, 2.8, 5.9, 13.1, 22.1),
    'qn': (1.0, 2.7, 5.9, 10.7, 17.2),
    'a3c': (1.0, 2.1, 3.7, 6.9, 12.5),
}
LAST_EPISODES = 20
ENV_FPS_RECORDS = 10  # env frames/s: the mean over the newest this many log records
RESUME_GAP_FACTOR = 5.0
MIN_SPACINGS = 3      # fewer record spacings than this: too few to tell a gap

REGENERATE_COMMAND = 'python scripts/reproduce_a3c.py --regenerate_only'
PLOT_KEYS = ('episode_return', 'env_fps', 'updates_per_s', 'loss', 'entropy', 'q_value')
NONE = results_store.NONE
_number = results_store.number
_table = results_store.markdown_table


class RunInfo(NamedTuple):
  """A run's ``run.json``."""
  env: str                        # 'cartpole', an Atari game ('pong'), ...
  algorithm: str                  # one of ALGORITHMS
  workers: int
  seed: int
  frame_budget: int
  target: float | None            # the score the final policy must reach to be "solved"
  reference: float | None         # the training window mean the speed-up is timed to
  train_start_unix: float | None  # time.time() just before training started
  final_eval: results_store.FinalEval | None = None
  variants: str = ''              # extra configs/a3c.py variants (e.g. 'threads')
  resumed: bool = False           # trained in more than one session (the workdir says so)
  cpus: int | None = None         # os.cpu_count() of the machine it trained on
  # os.getloadavg()[0] just before training: how busy the machine already was (other jobs
  # slow the workers down, so the wall times of runs made under load do not compare).
  load_before: float | None = None
  # The final policy acting by its mode (the actor-critic's argmax action), over the same
  # episodes; None where not measured (the Q-learners' final_eval is greedy already).
  greedy_eval: results_store.FinalEval | None = None


class RunSummary(NamedTuple):
  """The figures of one run; None where there is nothing to compute them from."""
  frames: int                          # frames trained (the last log record's)
  final_train_mean: float | None       # window mean at the end
  final_train_episodes: int            # episodes in that window (0: < LAST_EPISODES in all)
  solved: bool | None                  # final policy mean >= target; None: no target/eval
  greedy_mean: float | None            # the greedy policy's mean (``greedy_of``)
  solved_greedy: bool | None           # greedy_mean >= target; None: no target/greedy eval
  frames_to_reference: int | None      # first record whose window mean >= reference
  seconds_to_reference: float | None   # its time - train_start_unix; None if not timed
  env_fps: float | None                # mean env frames/s of the newest ENV_FPS_RECORDS
  resumed: str | None                  # why the run counts as resumed; None if it does not


class Run(NamedTuple):
  name: str
  info: RunInfo
  records: list[dict[str, Any]]


class Row(NamedTuple):
  name: str
  info: RunInfo
  summary: RunSummary


class Setting(NamedTuple):
  """Runs that differ only by seed."""
  env: str
  algorithm: str
  variants: str
  frame_budget: int
  workers: int


class SettingSummary(NamedTuple):
  setting: Setting
  seeds: list[int]
  solved: int | None            # runs solved; None: no target
  evaluated: int                # runs with a final evaluation
  solved_greedy: int | None     # runs whose greedy policy solved; None: no target
  greedy_evaluated: int         # runs with a greedy evaluation
  median_final_eval: float | None
  reached: int                  # timed runs that reached the reference
  timed: int                    # runs not resumed
  median_seconds: float | None  # censored median (math.inf: not reached); None: none timed
  reference: float | None


class Speedup(NamedTuple):
  setting: Setting
  timed_seeds: list[int]
  untimed_seeds: list[int]          # resumed, or without a start time
  median_seconds: float | None     # censored median; None: no timed run
  ratio_of_medians: float | None   # 1-worker median / this median; None: not both finite
  seed_ratio_median: float | None  # median over seeds that reached with both
  seed_ratio_count: int
  paper: float | None              # the paper's Table 2 figure for these workers


Outputs = results_store.Outputs


# --- Reading and writing runs ------------------------------------------------------------


def env_name(variant: str) -> str:
  """The env of a configs/a3c.py env variant: ``cartpole`` -> cartpole, ``game=pong`` ->
  pong."""
  return variant.split('=', 1)[1] if '=' in variant else variant


def run_name(env: str, algorithm: str, workers: int, seed: int, variants: str = '') -> str:
  """``cartpole-a3c-w2-seed0``; extra variants come after the algorithm."""
  return '-'.join(filter(None, [env, algorithm, variants.replace(',', '-'), f'w{workers}',
                                f'seed{seed}']))


def final_eval_from_record(record: Mapping[str, Any], num_eval_episodes: int,
                           prefix: str = 'eval') -> results_store.FinalEval | None:
  """The final evaluation in a run's last log record, or None if it holds none.

  ``<prefix>_return``/``<prefix>_return_std`` are over the episodes that finished;
  ``<prefix>_completed`` is their fraction, so n is that share of ``num_eval_episodes`` (all
  of them in CartPole). ``prefix='eval_greedy'`` reads the greedy evaluation.
  """
  mean, std = record.get(f'{prefix}_return'), record.get(f'{prefix}_return_std')
  if not (results_store.is_number(mean) and results_store.is_number(std)):
    return None  # no evaluation, or no episode finished (NaN)
  completed = record.get(f'{prefix}_completed', 1.0)
  completed = completed if results_store.is_number(completed) else 1.0
  return results_store.FinalEval(float(mean), float(std), round(completed * num_eval_episodes))


def info_to_json(info: RunInfo) -> dict[str, Any]:
  out = info._asdict()
  for field in ('final_eval', 'greedy_eval'):
    value = getattr(info, field)
    out[field] = None if value is None else value._asdict()
  return out


_REQUIRED = ('env', 'algorithm', 'workers', 'seed', 'frame_budget', 'target', 'reference',
             'train_start_unix')


def _float_or_none(value) -> float | None:
  return None if value is None else float(value)


def _final_eval_or_none(data) -> results_store.FinalEval | None:
  if data is None:
    return None
  return results_store.FinalEval(float(data['mean']), float(data['std']), int(data['n']))


def info_from_json(data: Mapping[str, Any],
                   source: str = results_store.RUN_INFO_FILENAME) -> RunInfo:
  results_store.require_fields(data, _REQUIRED, source)
  final_eval = _final_eval_or_none(data.get('final_eval'))
  cpus = data.get('cpus')
  return RunInfo(
      env=str(data['env']), algorithm=str(data['algorithm']), workers=int(data['workers']),
      seed=int(data['seed']), frame_budget=int(data['frame_budget']),
      target=_float_or_none(data['target']), reference=_float_or_none(data['reference']),
      train_start_unix=_float_or_none(data['train_start_unix']), final_eval=final_eval,
      variants=str(data.get('variants', '')), resumed=bool(data.get('resumed', False)),
      cpus=None if cpus is None else int(cpus),
      load_before=_float_or_none(data.get('load_before')),
      greedy_eval=_final_eval_or_none(data.get('greedy_eval')))


def load_run(run_dir: str | os.PathLike) -> Run:
  """A committed run: ``run_dir/run.json`` and ``run_dir/metrics.jsonl.gz``."""
  run_dir = pathlib.Path(run_dir)
  source = str(run_dir / results_store.RUN_INFO_FILENAME)
  info = info_from_json(results_store.read_run_info(run_dir), source)
  return Run(run_dir.name, info,
             results_store.read_metrics(run_dir / results_store.METRICS_FILENAME))


def load_runs(results_dir: str | os.PathLike) -> list[Run]:
  """Every run under ``results_dir/runs/``, by name; a folder without run.json is skipped."""
  return [load_run(d) for d in results_store.run_dirs(results_dir)]


def store_run(metrics_path: str | os.PathLike, results_dir: str | os.PathLike, name: str,
              info: RunInfo) -> pathlib.Path:
  """Copies a workdir's ``metrics.jsonl`` gzipped (deterministic bytes) to
  ``results_dir/runs/<name>/`` and writes its ``run.json``. Returns that folder."""
  run_dir = results_store.run_dir_of(results_dir, name)
  results_store.store_metrics(metrics_path, run_dir)
  results_store.write_run_info(run_dir, info_to_json(info))
  return run_dir


# --- The figures of one run ---------------------------------------------------------------


def resume_reason(records: Sequence[Mapping[str, Any]], *, train_start_unix: float | None,
                  resumed: bool = False) -> str | None:
  """Why the run counts as trained in more than one session, or None.

  ``records`` as ``drop_superseded`` leaves them. A pause between sessions shows as a
  record older than the start or as a gap far wider than the usual log spacing.
  """
  if resumed:
    return 'resumed (run.json)'
  timed = [r for r in records if results_store.is_number(r.get('time'))]
  if train_start_unix is not None and timed and timed[0]['time'] < train_start_unix:
    return 'a log record precedes train_start_unix'
  spacings = [b['time'] - a['time'] for a, b in zip(timed, timed[1:])
              if 'eval_return' not in b]  # the final evaluation's time is no pause
  if len(spacings) < MIN_SPACINGS:
    return None
  usual = statistics.median(spacings)
  widest = max(spacings)
  if widest > RESUME_GAP_FACTOR * usual:
    return f'a {widest:.0f} s gap between log records (usual {usual:.1f} s)'
  return None


def greedy_of(info: RunInfo) -> results_store.FinalEval | None:
  """The final policy's greedy evaluation: ``greedy_eval``, or ``final_eval`` for the
  algorithms evaluated greedily anyway; None where neither says."""
  if info.greedy_eval is not None:
    return info.greedy_eval
  return info.final_eval if info.algorithm in GREEDY_EVALUATED else None


def summarise_run(records: Sequence[Mapping[str, Any]], info: RunInfo,
                  last_episodes: int = LAST_EPISODES) -> RunSummary:
  """The figures of one run's metrics records and run.json."""
  records = results_store.drop_superseded(records)
  means = results_store.last_episodes_means(records, last_episodes)
  final = means[-1] if means else None
  solved = None
  if info.target is not None and info.final_eval is not None:
    solved = info.final_eval.mean >= info.target
  greedy = greedy_of(info)
  solved_greedy = None
  if info.target is not None and greedy is not None:
    solved_greedy = greedy.mean >= info.target
  resumed = resume_reason(records, train_start_unix=info.train_start_unix,
                          resumed=info.resumed)
  frames_to_reference = seconds_to_reference = None
  if info.reference is not None:
    first = next((w for w in means if w.mean >= info.reference), None)
    if first is not None:
      frames_to_reference = first.frames
      record = next(r for r in records if r['frames'] == first.frames)
      if (resumed is None and info.train_start_unix is not None
          and results_store.is_number(record.get('time'))):
        seconds_to_reference = record['time'] - info.train_start_unix
  return RunSummary(
      frames=int(records[-1]['frames']) if records else 0,
      final_train_mean=final.mean if final else None,
      final_train_episodes=final.episodes if final else 0,
      solved=solved,
      greedy_mean=None if greedy is None else greedy.mean,
      solved_greedy=solved_greedy,
      frames_to_reference=frames_to_reference,
      seconds_to_reference=seconds_to_reference,
      env_fps=results_store.recent_mean(records, 'env_fps', ENV_FPS_RECORDS),
      resumed=resumed)


def summarise(run: Run) -> Row:
  return Row(run.name, run.info, summarise_run(run.records, run.info))


# --- Across seeds and workers -------------------------------------------------------------


def setting_of(info: RunInfo) -> Setting:
  return Setting(info.env, info.algorithm, info.variants, info.frame_budget, info.workers)


def censored_median(values: Sequence[float]) -> float | None:
  """The median where math.inf stands for "never reached" (slower than any time); inf when
  the median falls on (or, for an even count, next to) such a value; None if empty."""
  if not values:
    return None
  ordered = sorted(values)
  middle = len(ordered) // 2
  if len(ordered) % 2:
    return ordered[middle]
  low, high = ordered[middle - 1], ordered[middle]
  return math.inf if math.isinf(high) else (low + high) / 2


def timed(row: Row) -> bool:
  """Whether the run's wall time counts: not resumed, and its start time is known."""
  return row.summary.resumed is None and row.info.train_start_unix is not None


def _time_or_inf(row: Row) -> float:
  seconds = row.summary.seconds_to_reference
  return math.inf if seconds is None else seconds


def _by_setting(rows: Sequence[Row]) -> dict[Setting, list[Row]]:
  groups: dict[Setting, list[Row]] = {}
  for row in sorted(rows, key=lambda r: (setting_of(r.info), r.info.seed)):
    groups.setdefault(setting_of(row.info), []).append(row)
  return groups


def settings(rows: Sequence[Row]) -> list[SettingSummary]:
  """One summary per setting (env, algorithm, variants, budget, workers), sorted."""
  out = []
  for setting, group in _by_setting(rows).items():
    evaluated = [r for r in group if r.info.final_eval is not None]
    greedy_evaluated = [r for r in group if r.summary.solved_greedy is not None]
    has_target = any(r.info.target is not None for r in group)
    timed_rows = [r for r in group if timed(r)]
    reference = group[0].info.reference
    out.append(SettingSummary(
        setting=setting,
        seeds=[r.info.seed for r in group],
        solved=sum(bool(r.summary.solved) for r in evaluated) if has_target else None,
        evaluated=len(evaluated),
        solved_greedy=(sum(r.summary.solved_greedy for r in greedy_evaluated)
                       if has_target else None),
        greedy_evaluated=len(greedy_evaluated),
        median_final_eval=(statistics.median(r.info.final_eval.mean for r in evaluated)
                           if evaluated else None),
        reached=sum(r.summary.seconds_to_reference is not None for r in timed_rows),
        timed=len(timed_rows),
        median_seconds=(censored_median([_time_or_inf(r) for r in timed_rows])
                        if reference is not None else None),
        reference=reference))
  return out


def _finite_positive(value: float | None) -> bool:
  return value is not None and math.isfinite(value) and value > 0


def paper_speedup(algorithm: str, workers: int) -> float | None:
  """The paper's Table 2 speed-up for this algorithm and thread count, if it has one."""
  figures = PAPER_SPEEDUPS.get(algorithm)
  if figures is None or workers not in PAPER_THREADS:
    return None
  return figures[PAPER_THREADS.index(workers)]


def speedups(rows: Sequence[Row]) -> list[Speedup]:
  """The speed-up table: per setting with a reference, each worker count against 1 worker.

  Runs not ``timed`` are left out (a resumed run's wall time holds the pause). The
  per-seed ratios pair
  the runs of one seed with 1 and with w workers where both reached the reference.
  """
  groups = _by_setting([r for r in rows if r.info.reference is not None])
  out = []
  for setting, group in groups.items():
    timed_rows = [r for r in group if timed(r)]
    baseline = [r for r in groups.get(setting._replace(workers=1), []) if timed(r)]
    median = censored_median([_time_or_inf(r) for r in timed_rows])
    base_median = censored_median([_time_or_inf(r) for r in baseline])
    ratio = None
    if _finite_positive(median) and _finite_positive(base_median):
      ratio = base_median / median
    base_by_seed = {r.info.seed: r.summary.seconds_to_reference for r in baseline}
    seed_ratios = [base_by_seed[r.info.seed] / r.summary.seconds_to_reference
                   for r in timed_rows
                   if _finite_positive(base_by_seed.get(r.info.seed))
                   and _finite_positive(r.summary.seconds_to_reference)]
    out.append(Speedup(
        setting=setting,
        timed_seeds=[r.info.seed for r in timed_rows],
        untimed_seeds=[r.info.seed for r in group if not timed(r)],
        median_seconds=median,
        ratio_of_medians=ratio,
        seed_ratio_median=statistics.median(seed_ratios) if seed_ratios else None,
        seed_ratio_count=len(seed_ratios),
        paper=paper_speedup(setting.algorithm, setting.workers)))
  return out


# --- Rendering ----------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
  if value is None:
    return NONE
  return 'not reached' if math.isinf(value) else f'{value:,.0f}'


def _algorithm(algorithm: str, variants: str) -> str:
  label = ALGORITHM_LABELS.get(algorithm, algorithm)
  return f'{label} [{variants}]' if variants else label


def _seeds(seeds: Sequence[int]) -> str:
  return ', '.join(map(str, seeds)) if seeds else NONE


RUN_HEADER = ('run', 'env', 'algorithm', 'workers', 'seed', 'frames trained',
              'final policy: mean ± std (n)', 'solved (final policy ≥ target)',
              'greedy policy: mean ± std (n)', 'solved (greedy policy ≥ target)',
              f'training mean, last {LAST_EPISODES} episodes (episodes)',
              'frames to reference', 's to reference', 'env frames/s', 'CPUs',
              'load before start')


def render_run_row(row: Row) -> list[str]:
  info, s = row.info, row.summary
  evaluation = NONE if info.final_eval is None else (
      f'{info.final_eval.mean:.1f} ± {info.final_eval.std:.1f} (n={info.final_eval.n})')
  if info.target is None:
    solved = f'{NONE} (no target)'
  elif s.solved is None:
    solved = f'{NONE} (not evaluated)'
  else:
    solved = f"{'yes' if s.solved else 'no'} (≥ {info.target:g})"
  greedy = greedy_of(info)
  if greedy is None:
    greedy_text = f'{NONE} (not measured)'
  elif greedy is info.final_eval:
    greedy_text = 'as final policy'
  else:
    greedy_text = f'{greedy.mean:.1f} ± {greedy.std:.1f} (n={greedy.n})'
  if info.target is None:
    solved_greedy = f'{NONE} (no target)'
  elif s.solved_greedy is None:
    solved_greedy = NONE
  else:
    solved_greedy = 'yes' if s.solved_greedy else 'no'
  train = (NONE if s.final_train_mean is None
           else f'{s.final_train_mean:.1f} ({s.final_train_episodes})')
  if info.reference is None:
    frames = seconds = f'{NONE} (no reference)'
  elif s.frames_to_reference is None:
    frames = seconds = f'not reached (≥ {info.reference:g})'
  else:
    frames = f'{s.frames_to_reference:,} (≥ {info.reference:g})'
    seconds = (f'{s.seconds_to_reference:,.0f}' if s.seconds_to_reference is not None
               else f'{NONE} ({"resumed" if s.resumed else "no start time"})')
  return [f'[{row.name}](runs/{row.name}/)', info.env,
          _algorithm(info.algorithm, info.variants), str(info.workers), str(info.seed),
          f'{s.frames:,}', evaluation, solved, greedy_text, solved_greedy, train, frames, seconds,
          _number(s.env_fps, ',.0f'), NONE if info.cpus is None else str(info.cpus),
          _number(info.load_before, '.1f')]


SETTING_HEADER = ('env', 'algorithm', 'workers', 'frame budget', 'seeds',
                  'solved (final policy ≥ target)', 'median final policy',
                  'solved (greedy policy ≥ target)',
                  'reached reference (timed runs)', 'median s to reference')


def render_setting_row(summary: SettingSummary) -> list[str]:
  s = summary.setting
  if summary.solved is None:
    solved = f'{NONE} (no target)'
  else:
    solved = f'{summary.solved}/{summary.evaluated} seeds'
  if summary.solved_greedy is None:
    solved_greedy = f'{NONE} (no target)'
  elif not summary.greedy_evaluated:
    solved_greedy = f'{NONE} (not measured)'
  else:
    solved_greedy = f'{summary.solved_greedy}/{summary.greedy_evaluated} seeds'
  if summary.reference is None:
    reached = seconds = f'{NONE} (no reference)'
  else:
    reached = f'{summary.reached}/{summary.timed} seeds (≥ {summary.reference:g})'
    seconds = _seconds(summary.median_seconds)
  return [s.env, _algorithm(s.algorithm, s.variants), str(s.workers), f'{s.frame_budget:,}',
          _seeds(summary.seeds), solved, _number(summary.median_final_eval), solved_greedy,
          reached, seconds]


SPEEDUP_HEADER = ('env', 'algorithm', 'frame budget', 'workers', 'seeds timed',
                  'median s to reference', 'speed-up: ratio of medians',
                  'speed-up: median of per-seed ratios (seeds)',
                  "paper's speed-up, same threads (Atari)")


def render_speedup_row(speedup: Speedup) -> list[str]:
  s = speedup.setting
  seeds = _seeds(speedup.timed_seeds)
  if speedup.untimed_seeds:
    seeds += f'; not timed, left out: {_seeds(speedup.untimed_seeds)}'
  per_seed = (NONE if speedup.seed_ratio_median is None
              else f'{speedup.seed_ratio_median:.2f} ({speedup.seed_ratio_count})')
  return [s.env, _algorithm(s.algorithm, s.variants), f'{s.frame_budget:,}', str(s.workers),
          seeds, _seconds(speedup.median_seconds), _number(speedup.ratio_of_medians, '.2f'),
          per_seed, _number(speedup.paper)]


def render_paper_table() -> str:
  lines = [[ALGORITHM_LABELS[a]] + [f'{v:.1f}' for v in PAPER_SPEEDUPS[a]]
           for a in ('q1', 'sarsa1', 'qn', 'a3c')]
  threads = [f'{t} thread' + ('s' if t > 1 else '') for t in PAPER_THREADS]
  return _table(['method'] + threads, lines)


def render_readme(rows: Sequence[Row]) -> str:
  """The whole of results/a3c/README.md."""
  table = speedups(rows)
  envs = ', '.join(sorted({s.setting.env for s in table})) or 'no env yet'
  cpus = sorted({r.info.cpus for r in rows if r.info.cpus is not None})
  machine = (f'{"/".join(map(str, cpus))} CPUs (run.json `cpus`)' if cpus
             else 'a CPU count not recorded')
  references = ', '.join(f'{env}: {value:g}' for env, value in sorted(REFERENCES.items()))
  lines = [
      '# The asynchronous methods (A3C, one-step Q, one-step Sarsa, n-step Q): '
      'reproduction runs',
      '',
      f'Generated, do not edit: `{REGENERATE_COMMAND}` rebuilds this file and `summary.json` '
      'from the raw data committed under `runs/<run>/` (`metrics.jsonl.gz`, the training log; '
      '`run.json`, the env, algorithm, workers, seed, frame budget, target, reference, start '
      'time and final-policy evaluation), with `experiments/a3c_results.py`. Runs are trained '
      'and added with `python scripts/reproduce_a3c.py --algorithms=<a3c,q1,sarsa1,qn> '
      '--env=<cartpole|game=pong> --workers=<1,2> --seeds=<0,1,2>` (configs/a3c.py).',
      '',
      '## What is measured',
      '',
      '- "final policy": the policy at the end of training over n fresh episodes '
      '(mean ± population std; greedy for the Q-learners, actions sampled from the policy '
      'for A3C), from the last log record. "solved": that mean is at or above the env\'s '
      f'target (CartPole: 475); "{NONE} (no target)" where the env has none.',
      '- "greedy policy": the same final policy acting by its mode (A3C: the most likely '
      'action, or the Gaussian\'s mean) over the same number of fresh episodes; for the '
      'Q-learners it is the final policy itself ("as final policy"). A3C runs made before '
      f'this was measured show "{NONE} (not measured)". It is a second score, shown beside '
      'the sampled one, not a replacement: "solved" stays the final policy\'s.',
      f'- "training mean": the mean return of the newest ≥ {LAST_EPISODES} training episodes '
      'at the end of training (the episodes in that window in brackets). The Q-learners '
      'play their training episodes ε-greedy, so this stays below their greedy score.',
      f'- "to reference": the first log record at which that {LAST_EPISODES}-episode training '
      'mean reached the reference score, in frames and in wall seconds since the run '
      'started (its `time` minus run.json `train_start_unix`, taken just before training: '
      'start-up of the workers and compilation are included). References: '
      f'{references}; "{NONE} (no reference)" for other envs, which have no speed-up row.',
      f'- A run trained in more than one session (resumed) has no wall time: run.json says '
      f'so, a record precedes the start, or two log records are more than '
      f'{RESUME_GAP_FACTOR:g}× the usual spacing apart. Such runs are left out of the timing.',
      '- Medians over seeds of the seconds to the reference count a seed that never reached '
      'it as slower than every seed that did; "not reached" where the median falls on such '
      'a seed.',
      f'- "env frames/s": the mean over the newest {ENV_FPS_RECORDS} log records.',
      '- "load before start": the machine\'s 1-minute load average just before the run '
      'started training (run.json `load_before`; — where not recorded). Other jobs slow '
      'the workers, so the wall times of runs made under load are not comparable with '
      'those of runs on an idle machine.',
      '- A count such as "1/3 seeds" is exactly that: the other seeds did not.',
      '',
      '## Runs',
      '',
      _table(RUN_HEADER, [render_run_row(r) for r in rows]) if rows
      else 'None yet.',
      '',
      '## Per setting (runs that differ only by seed)',
      '',
      _table(SETTING_HEADER, [render_setting_row(s) for s in settings(rows)]) if rows
      else 'None yet.',
      '',
      '## Training speed-up with more workers',
      '',
      'The analogue of the paper\'s Table 2: per setting, the median over seeds of the wall '
      'seconds to the reference with 1 worker divided by that with w workers ("ratio of '
      'medians"), and the median over seeds of the same ratio taken per seed, where both '
      'runs of a seed reached the reference (those seeds counted in brackets). Ours: '
      f'{envs} on this project\'s machine, {machine}.',
      '',
  ]
  lines.append(_table(SPEEDUP_HEADER, [render_speedup_row(s) for s in table]) if table
               else 'None yet: no run of an env with a reference.')
  lines += [
      '',
      "The paper's figures (arXiv 1602.01783, Table 2): the average training speed-up over "
      'seven Atari games with 1 to 16 actor-learner threads, on 16-core machines; not '
      'measured here, and on Atari rather than the env of the table above.',
      '',
      render_paper_table(),
  ]
  return '\n'.join(lines) + '\n'


def _finite_or_none(value):
  return None if isinstance(value, float) and not math.isfinite(value) else value


def summary_records(rows: Sequence[Row]) -> list[dict[str, Any]]:
  """summary.json: one object per run, its run.json fields and its figures."""
  out = []
  for row in rows:
    record = {'name': row.name}
    record.update(info_to_json(row.info))
    record.update({k: _finite_or_none(v) for k, v in row.summary._asdict().items()})
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
  """Learning-curve PNGs of a committed run (the keys its log has; x: frames)."""
  return results_store.plot_run(run_dir, keys)
