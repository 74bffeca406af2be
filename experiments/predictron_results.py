"""The predictron's comparison (``results/predictron/``): runs, their figures, the tables.

Each run trains one model (``configs/predictron.py``: a domain, a model variant, a depth,
a number of consistency updates) for a fixed number of examples; its folder under
``runs/<run>/`` holds the training log (``metrics.jsonl.gz``), ``run.json`` (what was
trained, at which scale) and, for the shared (r, γ, λ)-predictron, ``adaptive.json`` (the
adaptive-depth evaluation, ``planning.predictron.adaptive_depth_report``). README.md and
summary.json are generated from those alone (``regenerate``), as for the other results
folders (``results_store``).

Figures:
  final test RMSE  the run's final evaluation on fresh batches (``eval_rmse_lambda`` of a
                   predictron: its output g^λ; ``eval_rmse`` of a conv baseline)
  train RMSE       the mean of the same metric over the newest ``FINAL_RECORDS`` records
and per setting (domain, model, depth, consistency updates, scale) the median of the final
test RMSE over its seeds. The paper's result is checked on those medians (``claims``).
"""

from collections.abc import Mapping, Sequence
import json
import os
import pathlib
import statistics
from typing import Any, NamedTuple

from experiments import results_store

FINAL_RECORDS = 5
X = 'examples'
ADAPTIVE_FILENAME = 'adaptive.json'
PLOT_KEYS = ('rmse_lambda', 'rmse', 'loss', 'consistency_loss')

# The model the paper finds best, and the conv-net baselines it is compared with.
BEST = 'rgl'
BASELINES = ('feedforward', 'feedforward_skip', 'recurrent', 'recurrent_skip')

PAPER_CLAIM = ('the (r, γ, λ)-predictron with usage weighting has the lowest error on both '
               'domains and beats the feed-forward and recurrent deep conv nets, with and '
               'without skip connections, at every depth; more consistency updates per '
               'labelled update lower the error further (Silver et al. 2017, Figures 3-5).')

_table = results_store.markdown_table


class RunInfo(NamedTuple):
  domain: str         # 'maze' or 'pool'
  model: str          # configs/predictron.py model variants, e.g. 'rgl', 'rg,no_usage'
  depth: int          # K (a baseline's layers)
  consistency: int    # consistency updates per labelled update
  seed: int
  examples: int       # the budget, in labelled examples
  batch_size: int
  size: int           # the input's side: maze cells or pool render pixels
  metric: str         # 'rmse_lambda' (predictron) or 'rmse' (baseline)


class RunSummary(NamedTuple):
  examples: int                  # trained
  final_eval: float | None       # test RMSE of the final evaluation
  final_train: float | None      # mean training RMSE over the newest records
  k_step_eval: tuple             # test RMSE of g^0 .. g^K (predictron)
  lambdas: tuple                 # mean λ^0 .. λ^{K-1} on the test batches (predictron)
  adaptive: dict | None          # adaptive.json, if evaluated


class Run(NamedTuple):
  name: str
  info: RunInfo
  records: list
  adaptive: dict | None


class Row(NamedTuple):
  name: str
  info: RunInfo
  summary: RunSummary


class Scale(NamedTuple):
  """What runs must share to be compared."""
  domain: str
  examples: int
  batch_size: int
  size: int


class Setting(NamedTuple):
  """One model at one depth and consistency, at one scale, over its seeds."""
  scale: Scale
  model: str
  depth: int
  consistency: int
  seeds: tuple
  finals: tuple                  # each seed's final test RMSE
  median: float | None


def is_baseline(model: str) -> bool:
  return model in BASELINES


def metric_of(model: str) -> str:
  return 'rmse' if is_baseline(model) else 'rmse_lambda'


def run_name(domain: str, model: str, depth: int, consistency: int, seed: int) -> str:
  return (f'{domain}-{model.replace(",", "-")}-k{depth}'
          + (f'-c{consistency}' if consistency else '') + f'-seed{seed}')


def scale_of(info: RunInfo) -> Scale:
  return Scale(info.domain, info.examples, info.batch_size, info.size)


def info_from_json(data: Mapping[str, Any], source: str) -> RunInfo:
  results_store.require_fields(data, RunInfo._fields, source)
  return RunInfo(domain=str(data['domain']), model=str(data['model']),
                 depth=int(data['depth']), consistency=int(data['consistency']),
                 seed=int(data['seed']), examples=int(data['examples']),
                 batch_size=int(data['batch_size']), size=int(data['size']),
                 metric=str(data['metric']))


def load_run(run_dir: str | os.PathLike) -> Run:
  run_dir = pathlib.Path(run_dir)
  path = run_dir / results_store.RUN_INFO_FILENAME
  info = info_from_json(json.loads(path.read_text(encoding='utf-8')), str(path))
  adaptive_path = run_dir / ADAPTIVE_FILENAME
  adaptive = (json.loads(adaptive_path.read_text(encoding='utf-8'))
              if adaptive_path.exists() else None)
  return Run(run_dir.name, info,
             results_store.read_metrics(run_dir / results_store.METRICS_FILENAME), adaptive)


def load_runs(results_dir: str | os.PathLike) -> list[Run]:
  return [load_run(d) for d in results_store.run_dirs(results_dir)]


def store_run(metrics_path: str | os.PathLike, results_dir: str | os.PathLike,
              info: RunInfo, adaptive: Mapping[str, Any] | None = None) -> pathlib.Path:
  """Copies a workdir's metrics (gzipped), writes run.json and, if given, adaptive.json
  under ``runs/<name>/``."""
  run_dir = results_store.run_dir_of(
      results_dir, run_name(info.domain, info.model, info.depth, info.consistency, info.seed))
  results_store.store_metrics(metrics_path, run_dir)
  if adaptive is not None:
    (run_dir / ADAPTIVE_FILENAME).write_text(json.dumps(dict(adaptive), indent=2) + '\n',
                                             encoding='utf-8')
  results_store.write_run_info(run_dir, info._asdict())
  return run_dir


def _last_value(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
  return next((r[key] for r in reversed(records) if results_store.is_number(r.get(key))),
              None)


def summarise_run(records: Sequence[Mapping[str, Any]], info: RunInfo,
                  adaptive: dict | None = None) -> RunSummary:
  records = results_store.drop_superseded(records, x=X)
  k_step, lambdas = (), ()
  if not is_baseline(info.model):
    k_step = tuple(_last_value(records, f'eval_rmse_g{k}') for k in range(info.depth + 1))
    lambdas = tuple(_last_value(records, f'eval_lambda_{k}') for k in range(info.depth))
  return RunSummary(
      examples=int(records[-1][X]) if records else 0,
      final_eval=_last_value(records, f'eval_{info.metric}'),
      final_train=results_store.recent_mean(
          [r for r in records if results_store.is_number(r.get(info.metric))],
          info.metric, FINAL_RECORDS),
      k_step_eval=k_step, lambdas=lambdas, adaptive=adaptive)


def summarise(run: Run) -> Row:
  return Row(run.name, run.info, summarise_run(run.records, run.info, run.adaptive))


def settings(rows: Sequence[Row]) -> list[Setting]:
  groups: dict[tuple, list[Row]] = {}
  for row in rows:
    i = row.info
    groups.setdefault((scale_of(i), i.model, i.depth, i.consistency), []).append(row)
  out = []
  for (scale, model, depth, consistency), group in groups.items():
    group = sorted(group, key=lambda r: r.info.seed)
    finals = tuple(r.summary.final_eval for r in group)
    known = [f for f in finals if f is not None]
    out.append(Setting(scale, model, depth, consistency, tuple(r.info.seed for r in group),
                       finals, statistics.median(known) if known else None))
  return sorted(out, key=lambda s: (s.scale.domain, s.scale, s.depth, s.consistency,
                                    is_baseline(s.model), s.model))


class Claim(NamedTuple):
  scale: Scale
  statement: str
  holds: bool | None    # None: not enough runs to tell
  evidence: str


def _medians(group: Sequence[Setting]) -> dict[str, float]:
  return {s.model: s.median for s in group if s.median is not None}


def claims(all_settings: Sequence[Setting]) -> list[Claim]:
  """The paper's result, tested on the medians at each scale and depth: the (r, γ, λ)
  predictron (shared core, usage weighting, no consistency updates) is the lowest of every
  model run at that depth; it is below every baseline; and its error falls as the
  consistency updates per labelled update rise."""
  out = []
  by_scale: dict[Scale, list[Setting]] = {}
  for s in all_settings:
    by_scale.setdefault(s.scale, []).append(s)
  for scale, group in by_scale.items():
    for depth in sorted({s.depth for s in group}):
      medians = _medians([s for s in group if s.depth == depth and s.consistency == 0])
      if BEST not in medians or len(medians) < 2:
        continue
      ranked = sorted(medians, key=medians.get)
      rank = 1 + sum(v < medians[BEST] for v in medians.values())
      out.append(Claim(scale, f'K={depth}: {BEST} has the lowest median of the '
                       f'{len(medians)} models run', rank == 1,
                       f'{BEST} {medians[BEST]:.4f} (rank {rank}); next: '
                       + ', '.join(f'{m} {medians[m]:.4f}' for m in ranked[:3] if m != BEST)))
      baselines = {m: v for m, v in medians.items() if is_baseline(m)}
      if baselines:
        beaten = [m for m, v in baselines.items() if medians[BEST] < v]
        out.append(Claim(
            scale, f'K={depth}: {BEST} beats every baseline run ({len(baselines)})',
            len(beaten) == len(baselines),
            ', '.join(f'{m} {v:.4f}' for m, v in sorted(baselines.items()))))
    # Consistency runs are compared with the run without them at the same depth only.
    for depth in sorted({s.depth for s in group if s.model == BEST and s.consistency}):
      consistency = {s.consistency: s.median for s in group
                     if s.model == BEST and s.depth == depth and s.median is not None}
      if len(consistency) < 2:
        continue
      counts = sorted(consistency)
      values = [consistency[c] for c in counts]
      out.append(Claim(
          scale, f'K={depth}: {BEST}\'s error falls with each step up in consistency '
          f'updates ({", ".join(map(str, counts))})',
          all(b < a for a, b in zip(values, values[1:])),
          ', '.join(f'{c}: {consistency[c]:.4f}' for c in counts)))
  return out


# --- Rendering ----------------------------------------------------------------------------


def _number(value, fmt='.4f') -> str:
  return results_store.number(value, fmt)


def _scale_title(scale: Scale) -> str:
  side = f'{scale.size}×{scale.size}'
  task = f'{side} mazes' if scale.domain == 'maze' else f'pool rendered at {side} pixels'
  return (f'{task}, batches of {scale.batch_size}, {scale.examples:,} labelled examples '
          f'({scale.examples // scale.batch_size:,} updates)')


def _settings_table(group: Sequence[Setting]) -> str:
  lines = [[s.model, str(s.depth), str(s.consistency), ', '.join(map(str, s.seeds)),
            _number(s.median), ', '.join(_number(f) for f in s.finals)] for s in group]
  return _table(['model', 'K', 'consistency', 'seeds', 'median test RMSE',
                 'test RMSE (each seed)'], lines)


def _depth_table(group: Sequence[Setting]) -> str:
  depths = sorted({s.depth for s in group})
  models = sorted({s.model for s in group if s.consistency == 0},
                  key=lambda m: (is_baseline(m), m))
  cell = {(s.model, s.depth): s for s in group if s.consistency == 0}
  lines = []
  for model in models:
    cells = [model]
    for depth in depths:
      s = cell.get((model, depth))
      cells.append(results_store.NONE if s is None
                   else f'{_number(s.median)} ({len(s.seeds)})')
    lines.append(cells)
  return _table(['model'] + [f'K={d}' for d in depths], lines)


def _adaptive_table(rows: Sequence[Row]) -> str:
  lines = []
  for r in rows:
    a = r.summary.adaptive
    for threshold, depth, rmse in zip(a['thresholds'], a['mean_depth'], a['rmse']):
      lines.append([r.name, f'{threshold:g}', f'{depth:.2f}', _number(rmse),
                    _number(a['full_rmse'])])
  return _table(['run', 'threshold', 'mean depth used', 'test RMSE',
                 'test RMSE at full K'], lines)


def render_readme(rows: Sequence[Row]) -> str:
  all_settings = settings(rows)
  out = [
      '# The predictron: the paper\'s comparison',
      '',
      'Generated, do not edit: `python scripts/reproduce_predictron.py --regenerate_only` '
      'rebuilds this file and `summary.json` from the raw data under `runs/<run>/` '
      '(`metrics.jsonl.gz`, the training log; `run.json`, what was trained and at which '
      'scale; `adaptive.json`, the adaptive-depth evaluation) with '
      '`experiments/predictron_results.py`.',
      '',
      '"test RMSE": the final evaluation on fresh batches (g^λ of a predictron, the output '
      'of a baseline); the median is over the seeds run. Models: `rgl`, `rg`, `l`, `none` '
      'are the (r, γ, λ), (r, γ), (λ) and plain predictrons with a shared core and usage '
      'weighting; `,no_usage` weights the preturn losses uniformly; `,unshared` has K '
      'cores; the others are the conv-net baselines of K layers '
      '(`configs/predictron.py`).',
      '',
      f'The paper\'s result: {PAPER_CLAIM}',
      '']
  scales = sorted({s.scale for s in all_settings})
  checked = claims(all_settings)
  for scale in scales:
    group = [s for s in all_settings if s.scale == scale]
    out += [f'## {_scale_title(scale)}', '', '### Median test RMSE by depth (seeds)', '',
            _depth_table(group), '', '### The paper\'s result, checked', '']
    mine = [c for c in checked if c.scale == scale]
    if mine:
      out.append(_table(['statement', 'holds', 'medians'],
                        [[c.statement, 'yes' if c.holds else 'no', c.evidence]
                         for c in mine]))
    else:
      out.append('Not enough runs at this scale to check it.')
    out += ['', '### Every setting', '', _settings_table(group), '']
    adaptive = [r for r in rows if scale_of(r.info) == scale and r.summary.adaptive]
    if adaptive:
      out += ['### Adaptive depth (stop once Π λ^j < threshold)', '',
              _adaptive_table(sorted(adaptive, key=lambda r: r.name)), '']
  if not scales:
    out += ['No runs yet.', '']
  return '\n'.join(out)


def summary_records(rows: Sequence[Row]) -> list[dict[str, Any]]:
  return [{'run': r.name, **r.info._asdict(), **r.summary._asdict()} for r in rows]


def render_outputs(results_dir: str | os.PathLike) -> results_store.Outputs:
  return results_store.render_folder(results_dir, load_runs, summarise, render_readme,
                                     summary_records)


def regenerate(results_dir: str | os.PathLike) -> str:
  return results_store.regenerate(results_dir, render_outputs)


def plot_run(run_dir: str | os.PathLike) -> list[str]:
  return results_store.plot_run(run_dir, PLOT_KEYS, x=X)


# --- What the reproduction trains ----------------------------------------------------------

# Models run at the deepest depth only (the paper's ablation, Figure 3) and at every depth
# (the comparison with the baselines, Figures 4-5).
ABLATIONS = ('rgl', 'rg', 'l', 'none', 'rgl,no_usage', 'rg,no_usage', 'l,no_usage',
             'none,no_usage')
AT_EVERY_DEPTH = ('rgl', 'rgl,unshared') + BASELINES


class Planned(NamedTuple):
  domain: str
  model: str
  depth: int
  consistency: int
  seed: int


def plan(domains: Sequence[str], depths: Sequence[int], seeds: Sequence[int],
         consistency: Sequence[int] = (0, 1, 9)) -> list[Planned]:
  """The runs of the comparison, seed by seed (so that a partial reproduction holds whole
  seeds): at the deepest depth every ablation, at every depth ``AT_EVERY_DEPTH``, and the
  best model at the deepest depth with each number of consistency updates."""
  deepest = max(depths)
  out = []
  for seed in seeds:
    for domain in domains:
      runs = [(m, deepest, 0) for m in ABLATIONS]
      runs += [(m, d, 0) for d in sorted(depths) for m in AT_EVERY_DEPTH]
      runs += [(BEST, deepest, c) for c in consistency if c]
      seen = set()
      for model, depth, c in runs:
        if (model, depth, c) not in seen:
          seen.add((model, depth, c))
          out.append(Planned(domain, model, depth, c, seed))
  return out
