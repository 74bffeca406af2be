"""The shared host loop: records once per step and in order, checkpoints, stop requests."""

import threading

import jax.numpy as jnp

from core import checkpoint as checkpoint_lib
from core import metrics as metrics_lib
from core.runtime import loop


def _run(tmp_path, *, stop=None, stop_after=None, num_updates=10, start=0, finish=None):
  state = {'count': jnp.asarray(start, jnp.int32)}
  calls = []

  def step(s):
    calls.append(int(s['count']))
    if stop_after is not None and len(calls) == stop_after:
      stop.set()
    return {'count': s['count'] + 2}, {'loss': float(s['count'])}

  summarise = lambda window, elapsed: {'loss': sum(m['loss'] for m in window) / len(window)}
  with checkpoint_lib.Checkpointer(tmp_path / 'ckpt', save_interval_s=3600) as ckpt, \
      metrics_lib.MetricsWriter(tmp_path, tensorboard=False, resume_step=start) as writer:
    result = loop.run(state, step=step, summarise=summarise, start_update=start,
                      num_updates=num_updates, updates_per_step=2, frames_per_update=5,
                      checkpointer=ckpt, writer=writer, log_interval_s=0.0, stop=stop,
                      finish=finish, print_fn=lambda line: None)
    latest = ckpt.latest_step()
    restored = ckpt.restore(state)
  return result, latest, restored, metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')


def test_runs_to_the_budget_with_one_record_per_step(tmp_path):
  result, latest, restored, records = _run(tmp_path, finish=lambda s: {'eval': 1.5})
  assert result.update == 10 and not result.interrupted
  assert latest == 10 and int(restored['count']) == 10
  assert [r['step'] for r in records] == [2, 4, 6, 8, 10]
  assert [r['frames'] for r in records] == [10, 20, 30, 40, 50]
  assert records[-1]['eval'] == 1.5 and 'eval' not in records[-2]
  assert result.final_metrics == {'eval': 1.5}


def test_stop_saves_exactly_the_last_state(tmp_path):
  stop = threading.Event()
  result, latest, restored, records = _run(
      tmp_path, stop=stop, stop_after=2, finish=lambda s: {'eval': 0.0})
  assert result.interrupted and result.update == 4
  assert latest == 4 and int(restored['count']) == 4
  assert records[-1]['step'] == 4 and 'eval' not in records[-1]


def test_resume_continues_without_repeating_steps(tmp_path):
  stop = threading.Event()
  _run(tmp_path, stop=stop, stop_after=3)   # stops at update 6
  result, latest, _, records = _run(tmp_path, start=6)
  assert result.update == 10 and latest == 10
  steps = [r['step'] for r in records]
  assert steps == sorted(set(steps)) == [2, 4, 6, 8, 10]
