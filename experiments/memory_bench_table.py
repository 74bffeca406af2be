"""The markdown table of a ``scripts/bench_memory.py`` report (results/bench/memory.json).

``python scripts/bench_memory.py --table_from=results/bench/memory.json`` prints it, so
the table in results/bench/NOTES.md is regenerated from the committed JSON, not typed.
Speed ratios are the report's own (per-repeat ratios, median [min, max]); step times are
per batch (the batch and unroll each model ran are in the report's ``by_size``).
"""

_COLUMNS = (
    ('SAM exact / NTM speed', 'speedup_vs_ntm'),
    ('SAM LSH / NTM speed', 'speedup_vs_ntm_approx'),
    ('NTM / SAM backprop memory', 'backprop_memory_ratio_vs_ntm'),
    ('SDNC / DNC speed', 'sdnc_speedup_vs_dnc'),
    ('DNC / SDNC backprop memory', 'sdnc_backprop_memory_ratio_vs_dnc'),
)
_STEP_TIMES = ('sam', 'sam_lsh', 'ntm')


def _size_label(num_rows: int) -> str:
  for unit, scale in (('M', 2 ** 20), ('K', 2 ** 10)):
    if num_rows >= scale and num_rows % scale == 0:
      return f'{num_rows // scale}{unit}'
  return str(num_rows)


def _ratio(value) -> str:
  if value is None:
    return '—'
  if isinstance(value, dict):
    return f'{value["median"]:,.1f}× [{value["min"]:,.1f}, {value["max"]:,.1f}]'
  return f'{value:,.0f}×'


def _step_time(result: dict | None) -> str:
  if not result:
    return '—'
  if 'step_time_s' not in result:
    return 'skipped'
  ms = result['step_time_s']['median'] * 1e3
  return f'{ms:,.2f} (B{result["batch"]}×T{result["steps"]})'


def growth(report: dict, model: str, from_rows: int, to_rows: int) -> dict:
  """How ``model``'s step time grows from ``from_rows`` to ``to_rows``: the ratio of the
  medians and the per-repeat ratios (repeat i at both sizes)."""
  times = [report['by_size'][str(n)][model]['step_time_s'] for n in (from_rows, to_rows)]
  per_repeat = [b / a for a, b in zip(times[0]['samples'], times[1]['samples'])]
  return {'of_medians': times[1]['median'] / times[0]['median'], 'per_repeat': per_repeat}


def table(report: dict) -> str:
  """One row per memory size: the ratios of ``_COLUMNS``, SAM's, SAM-LSH's and the NTM's
  step times (ms per batch step) and the LSH index's recall of the best row."""
  header = (['N'] + [name for name, _ in _COLUMNS]
            + [f'{m} ms/step' for m in _STEP_TIMES] + ['LSH recall@1'])
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for size in sorted(report['by_size'], key=int):
    by_model = report['by_size'][size]
    recall = report.get('lsh_recall', {}).get(size)
    cells = ([_size_label(int(size))]
             + [_ratio(report.get(field, {}).get(size)) for _, field in _COLUMNS]
             + [_step_time(by_model.get(m)) for m in _STEP_TIMES]
             + [f'{recall["recall_at_1"]:.3f}' if recall else '—'])
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'
