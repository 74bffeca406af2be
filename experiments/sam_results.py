"""The memory models' learning results (``results/sam/``): runs, their figures, the table.

Each run trains one memory core (``configs/memory_tasks.py``: ``<model>_<task>``) for a
fixed number of examples; its folder under ``runs/<run>/`` holds the training log
(``metrics.jsonl.gz``) and ``run.json`` (model, task, seed, budget, the error threshold
and which metric it applies to). README.md and summary.json are generated from those
alone (``regenerate``), as for the other results folders (``results_store``).

Figures, all from the training log:
  final      the mean of the metric over the newest ``FINAL_RECORDS`` log records
  to target  the examples seen at the first log record where the mean of the metric over
             the newest ``FINAL_RECORDS`` records is at or below the threshold (None:
             never, within the budget)
  eval       the run's final evaluation on fresh batches (``eval_<metric>``)
and per model and task, over its seeds: how many reached the threshold and the median
examples to reach it (a seed that never did counts as above every seed that did; None
when half or more never did).
"""

from collections.abc import Mapping, Sequence
import json
import os
import pathlib
from typing import Any, NamedTuple

from experiments import results_store

FINAL_RECORDS = 5  # log records averaged for "final" and for the threshold test
X = 'examples'
PLOT_KEYS = ('bits_per_sequence', 'bit_errors_per_sequence', 'error', 'error_seen_before',
             'data_level', 'loss')

# The metric a task's threshold applies to, and the default threshold (per sequence).
TASK_METRICS = {
    'copy': ('bit_errors_per_sequence', 1.0),
    'recall': ('bit_errors_per_sequence', 1.0),
    'sort': ('bit_errors_per_sequence', 8.0),
    'oneshot': ('error_seen_before', 0.2),
    # Under the curriculum (a run ends at some level h), then tested on longer episodes.
    'copy_curriculum': ('bit_errors_per_sequence', 1.0),
    'recall_curriculum': ('bit_errors_per_sequence', 1.0),
}
GENERALISATION_FILENAME = 'generalisation.json'  # experiments/sam_generalisation.py

PAPER_CLAIM = ('SAM learns copy, associative recall and priority sort as fast as or faster '
               'than the dense models (NTM, DNC; Rae et al. 2016, Figure 3); one-shot '
               'Omniglot error < 0.2 for SAM against about 0.4 for the dense model at 100 '
               'characters.')

_table = results_store.markdown_table


class RunInfo(NamedTuple):
  model: str        # memory/cores.py name
  task: str         # configs/memory_tasks.py task
  seed: int
  examples: int     # the budget
  metric: str       # what the threshold applies to
  threshold: float


class RunSummary(NamedTuple):
  examples: int                   # trained
  final: float | None             # mean of the metric over the newest records
  to_target: int | None           # examples at the first record at or below threshold
  final_eval: float | None        # eval_<metric> of the final evaluation
  final_level: float | None       # a curriculum's level at the end (data_level)


class Run(NamedTuple):
  name: str
  info: RunInfo
  records: list
  generalisation: dict | None = None  # a curriculum run's longer-sequence test


class Row(NamedTuple):
  name: str
  info: RunInfo
  summary: RunSummary
  generalisation: dict | None = None


class Setting(NamedTuple):
  """One model on one task, over its seeds."""
  model: str
  task: str
  seeds: tuple
  reached: int                    # seeds that reached the threshold
  median_to_target: float | None  # censored median (None: half or more never reached)
  finals: tuple                   # each seed's final value


def run_name(model: str, task: str, seed: int) -> str:
  return f'{model}-{task}-seed{seed}'


def info_from_json(data: Mapping[str, Any], source: str) -> RunInfo:
  results_store.require_fields(data, RunInfo._fields, source)
  return RunInfo(model=str(data['model']), task=str(data['task']), seed=int(data['seed']),
                 examples=int(data['examples']), metric=str(data['metric']),
                 threshold=float(data['threshold']))


def load_run(run_dir: str | os.PathLike) -> Run:
  run_dir = pathlib.Path(run_dir)
  path = run_dir / results_store.RUN_INFO_FILENAME
  info = info_from_json(json.loads(path.read_text(encoding='utf-8')), str(path))
  extra = run_dir / GENERALISATION_FILENAME
  generalisation = json.loads(extra.read_text(encoding='utf-8')) if extra.exists() else None
  return Run(run_dir.name, info,
             results_store.read_metrics(run_dir / results_store.METRICS_FILENAME),
             generalisation)


def load_runs(results_dir: str | os.PathLike) -> list[Run]:
  return [load_run(d) for d in results_store.run_dirs(results_dir)]


def store_run(metrics_path: str | os.PathLike, results_dir: str | os.PathLike,
              info: RunInfo, generalisation: dict | None = None) -> pathlib.Path:
  """Copies a workdir's metrics (gzipped) and writes run.json under ``runs/<name>/``,
  with a curriculum run's longer-sequence test (``generalisation.json``)."""
  run_dir = results_store.run_dir_of(results_dir, run_name(info.model, info.task, info.seed))
  results_store.store_metrics(metrics_path, run_dir)
  if generalisation is not None:
    results_store.write_text_atomically(run_dir / GENERALISATION_FILENAME,
                                        json.dumps(generalisation, indent=2, sort_keys=True))
  results_store.write_run_info(run_dir, info._asdict())
  return run_dir


def summarise_run(records: Sequence[Mapping[str, Any]], info: RunInfo) -> RunSummary:
  records = results_store.drop_superseded(records, x=X)
  with_metric = [r for r in records if results_store.is_number(r.get(info.metric))]
  to_target = None
  for end in range(len(with_metric)):
    window = with_metric[max(0, end + 1 - FINAL_RECORDS):end + 1]
    if len(window) == FINAL_RECORDS or end + 1 == len(with_metric):
      if sum(r[info.metric] for r in window) / len(window) <= info.threshold:
        to_target = int(with_metric[end][X])
        break
  final_eval = next((r[f'eval_{info.metric}'] for r in reversed(records)
                     if results_store.is_number(r.get(f'eval_{info.metric}'))), None)
  return RunSummary(
      examples=int(records[-1][X]) if records else 0,
      final=results_store.recent_mean(with_metric, info.metric, FINAL_RECORDS),
      to_target=to_target,
      final_eval=final_eval,
      final_level=results_store.recent_mean(records, 'data_level', 1))


def summarise(run: Run) -> Row:
  return Row(run.name, run.info, summarise_run(run.records, run.info), run.generalisation)


def settings(rows: Sequence[Row]) -> list[Setting]:
  by_setting: dict[tuple[str, str], list[Row]] = {}
  for row in rows:
    by_setting.setdefault((row.info.model, row.info.task), []).append(row)
  out = []
  for (model, task), group in sorted(by_setting.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    group = sorted(group, key=lambda r: r.info.seed)
    out.append(Setting(
        model, task, tuple(r.info.seed for r in group),
        sum(r.summary.to_target is not None for r in group),
        results_store.censored_median([r.summary.to_target for r in group]),
        tuple(r.summary.final for r in group)))
  return out


DENSE = ('ntm', 'dnc')   # the dense models the paper's claim compares SAM with
MIN_SEEDS = 3           # seeds per model before a comparison is called


class Claim(NamedTuple):
  task: str
  statement: str
  holds: bool | None      # None: too few seeds to tell
  evidence: str


def _lower_or_equal(a: float | None, b: float | None) -> bool | None:
  """``a <= b`` with None as never reached (above every number); None when neither was
  reached (nothing to compare)."""
  if a is None:
    return None if b is None else False
  return b is None or a <= b


def claims(all_settings: Sequence[Setting]) -> list[Claim]:
  """The paper's claim per task, on the medians: SAM reaches the threshold in as few
  examples as each dense model or fewer (one-shot: its final error is lower). Called only
  when both ran at least ``MIN_SEEDS`` seeds."""
  out = []
  by_task: dict[str, dict[str, Setting]] = {}
  for setting in all_settings:
    by_task.setdefault(setting.task, {})[setting.model] = setting
  for task, models in sorted(by_task.items()):
    sam = models.get('sam')
    if sam is None or task.endswith('_curriculum'):
      continue
    for dense in DENSE:
      other = models.get(dense)
      if other is None:
        continue
      enough = min(len(sam.seeds), len(other.seeds)) >= MIN_SEEDS
      if task == 'oneshot':
        ours, theirs = results_store.censored_median(sam.finals), results_store.censored_median(
            other.finals)
        statement = f'{task}: SAM\'s final error is below {dense}\'s'
        holds = None if ours is None or theirs is None else ours < theirs
        evidence = f'sam {_number(ours, ".3f")}, {dense} {_number(theirs, ".3f")}'
      else:
        ours, theirs = sam.median_to_target, other.median_to_target
        statement = f'{task}: SAM reaches the threshold as fast as {dense} or faster'
        holds = _lower_or_equal(ours, theirs)
        evidence = f'sam {_count(ours)}, {dense} {_count(theirs)} (median examples)'
      seeds = f'; seeds: sam {len(sam.seeds)}, {dense} {len(other.seeds)}'
      out.append(Claim(task, statement, holds if enough else None, evidence + seeds))
      if task != 'oneshot' and ours is None and theirs is None:
        out.append(_final_error_claim(task, sam, other, enough, seeds))
  return out


def _final_error_claim(task: str, sam: Setting, other: Setting, enough: bool,
                       seeds: str) -> Claim:
  """Where neither median reached the threshold, the nearest reading of "learns as fast":
  at the same budget SAM's median final error is no higher than the dense model's."""
  ours = results_store.censored_median(list(sam.finals))
  theirs = results_store.censored_median(list(other.finals))
  holds = None if ours is None or theirs is None or not enough else ours <= theirs
  return Claim(
      task, f'{task}, neither at the threshold: SAM\'s final error at the same budget is '
      f'at most {other.model}\'s', holds,
      f'sam {_number(ours)}, {other.model} {_number(theirs)} (median final){seeds}')


def _number(value, fmt='.2f') -> str:
  return results_store.number(value, fmt)


def _count(value) -> str:
  return 'not reached' if value is None else f'{value:,.0f}'


def _generalisation_lines(rows: Sequence[Row]) -> list[list[str]]:
  lines = []
  for r in rows:
    g = r.generalisation
    if g is None:
      continue
    lines.append([r.info.task, r.info.model, str(r.info.seed), f'{g["num_rows"]:,}',
                  f'{g["level"]} (cap {g["max_level"]})',
                  _number(g['at_level'].get(r.info.metric)), f'{g["longer"]["length"]:,}',
                  _number(g['longer'].get(r.info.metric)),
                  _number(g['longer'].get(r.info.metric, float('nan'))
                          / g['longer']['length'], '.3f')])
  return lines


def _claims_section(rows: Sequence[Row]) -> str:
  found = claims(settings(rows))
  if not found:
    return ('No task has runs of SAM and of a dense model (NTM, DNC) yet: nothing to '
            'compare.')
  verdict = {True: 'yes', False: 'no', None: 'not called'}
  return '\n'.join([
      f'"not called": fewer than {MIN_SEEDS} seeds of either model, or neither median reached '
      'the threshold (then the next row compares the median final errors).', '',
      _table(['statement', 'holds', 'medians'],
             [[c.statement, verdict[c.holds], c.evidence] for c in found])])


def render_readme(rows: Sequence[Row]) -> str:
  rows = sorted(rows, key=lambda r: (r.info.task, r.info.model, r.info.seed))
  generalisation = _generalisation_lines(rows)
  curriculum_section = [] if not generalisation else [
      '## Curriculum runs, tested on longer episodes',
      '',
      'Each trained under the exponential curriculum for its budget, ending at level h '
      '(episodes up to h long); then its final checkpoint was evaluated on the plain task '
      'with every episode exactly h long and exactly factor × h long '
      '(`generalisation.json`, experiments/sam_generalisation.py; the paper tests 10×).',
      '',
      _table(['task', 'model', 'seed', 'memory rows', 'final level h', 'errors at h',
              'longer length', 'errors there', 'errors there ÷ length'], generalisation),
      '']
  run_lines = [[r.info.task, r.info.model, str(r.info.seed), f'{r.summary.examples:,}',
                f'{r.info.metric} ≤ {r.info.threshold:g}', _number(r.summary.final),
                _number(r.summary.final_eval), _count(r.summary.to_target),
                _number(r.summary.final_level, '.0f')] for r in rows]
  setting_lines = [[s.task, s.model, ', '.join(map(str, s.seeds)), f'{s.reached}/{len(s.seeds)}',
                    _count(s.median_to_target), ', '.join(_number(f) for f in s.finals)]
                   for s in settings(rows)]
  return '\n'.join([
      '# Memory models on the SAM paper\'s tasks: learning runs',
      '',
      'Generated, do not edit: `python scripts/reproduce_sam.py --regenerate_only` rebuilds '
      'this file and `summary.json` from the raw data under `runs/<run>/` '
      '(`metrics.jsonl.gz`, the training log; `run.json`, the model, task, seed, budget and '
      'threshold) with `experiments/sam_results.py`.',
      '',
      f'"final": the mean of the metric over the newest {FINAL_RECORDS} training log '
      'records; "eval": the final evaluation on fresh batches; "to threshold": the examples '
      f'seen when the mean over the newest {FINAL_RECORDS} records first fell to the '
      'threshold. Per model and task: seeds at the threshold, the censored median of '
      'examples to it (a seed that never reached it ranks last; "not reached" when half or '
      'more never did) and every seed\'s final value.',
      '',
      f'The paper\'s claim: {PAPER_CLAIM}',
      '',
      '## The paper\'s claim, checked',
      '',
      _claims_section(rows),
      '',
      '## Per model and task',
      '',
      _table(['task', 'model', 'seeds', 'reached', 'median examples to threshold',
              'final (each seed)'], setting_lines),
      '',
      '## Runs',
      '',
      _table(['task', 'model', 'seed', 'examples', 'threshold', 'final', 'eval',
              'examples to threshold', 'curriculum level'], run_lines),
      '',
      *curriculum_section])


def summary_records(rows: Sequence[Row]) -> list[dict[str, Any]]:
  return [{'run': r.name, **r.info._asdict(), **r.summary._asdict(),
           **({'generalisation': r.generalisation} if r.generalisation else {})} for r in rows]


def render_outputs(results_dir: str | os.PathLike) -> results_store.Outputs:
  return results_store.render_folder(results_dir, load_runs, summarise, render_readme,
                                     summary_records)


def regenerate(results_dir: str | os.PathLike) -> str:
  return results_store.regenerate(results_dir, render_outputs)


def plot_run(run_dir: str | os.PathLike) -> list[str]:
  return results_store.plot_run(run_dir, PLOT_KEYS, x=X)
