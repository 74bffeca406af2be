"""experiments.sweep.run_plan: stored runs skipped, claimed runs left to their holder."""

import contextlib
import pathlib

from experiments import results_store
from experiments import sweep
from experiments import workdir


def _store(out, name):
  run_dir = results_store.run_dir_of(out, name)
  results_store.write_run_info(run_dir, {'name': name})


def test_trains_every_run_in_order_and_calls_after_each(tmp_path):
  trained, after = [], []
  plan = [(name, lambda name=name: trained.append(name)) for name in ('a', 'b', 'c')]
  done = sweep.run_plan(plan, out=tmp_path / 'out', runs=tmp_path / 'runs',
                        skip_existing=False, after_each=lambda: after.append(len(trained)),
                        print_fn=lambda line: None)
  assert trained == done == ['a', 'b', 'c']
  assert after == [1, 2, 3]


def test_skip_existing_skips_stored_runs_only_when_asked(tmp_path):
  out = tmp_path / 'out'
  _store(out, 'b')
  for skip, expected in ((True, ['a', 'c']), (False, ['a', 'b', 'c'])):
    trained = []
    plan = [(name, lambda name=name: trained.append(name)) for name in ('a', 'b', 'c')]
    sweep.run_plan(plan, out=out, runs=tmp_path / 'runs', skip_existing=skip,
                   print_fn=lambda line: None)
    assert trained == expected


def test_a_run_another_process_holds_is_skipped(tmp_path):
  trained, lines = [], []
  plan = [(name, lambda name=name: trained.append(name)) for name in ('a', 'b')]
  with workdir.claim(tmp_path / 'runs' / 'a') as held:   # as another process would
    assert held
    sweep.run_plan(plan, out=tmp_path / 'out', runs=tmp_path / 'runs', skip_existing=True,
                   print_fn=lines.append)
  assert trained == ['b']
  assert lines == ['a: being trained by another process, skipped']


def test_a_run_another_process_stored_meanwhile_is_not_trained_again(tmp_path):
  out, trained = tmp_path / 'out', []

  def first():  # trains 'a' and, meanwhile, another process stores 'b' and lets it go
    trained.append('a')
    _store(out, 'b')

  plan = [('a', first), ('b', lambda: trained.append('b'))]
  sweep.run_plan(plan, out=out, runs=tmp_path / 'runs', skip_existing=False,
                 print_fn=lambda line: None)
  assert trained == ['a']   # even without skip_existing: stored since the sweep began


def test_a_run_stored_while_waiting_for_the_claim_is_not_trained(tmp_path, monkeypatch):
  out, trained, lines = tmp_path / 'out', [], []
  real_claim = workdir.claim

  @contextlib.contextmanager
  def claim_after_a_sibling_stored_it(path):
    _store(out, pathlib.Path(path).name)   # the sibling finishes just before the claim
    with real_claim(path) as held:
      yield held

  monkeypatch.setattr(workdir, 'claim', claim_after_a_sibling_stored_it)
  sweep.run_plan([('a', lambda: trained.append('a'))], out=out, runs=tmp_path / 'runs',
                 skip_existing=True, print_fn=lines.append)
  assert not trained
  assert lines == ['a: stored meanwhile by another process, skipped']
