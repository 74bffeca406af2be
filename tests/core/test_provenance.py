"""Tests for core.provenance: what produced a run, recorded as JSON."""

import datetime
import json
import subprocess
import sys

import jax
import pytest

from core import provenance


def test_collect_has_every_field_and_is_json_serialisable():
  record = provenance.collect(seed=17, argv=['scripts/run.py', '--workdir=runs/x'])
  assert set(record) == {
      'git', 'python', 'platform', 'jax', 'packages', 'argv', 'seed', 'time_utc'}
  assert json.loads(json.dumps(record)) == record
  assert record['seed'] == 17
  assert record['argv'] == ['scripts/run.py', '--workdir=runs/x']
  assert record['python'] == sys.version
  assert set(record['git']) == {'revision', 'dirty'}
  assert record['jax']['backend'] == jax.default_backend()
  assert record['jax']['devices'] == [str(d) for d in jax.devices()]
  assert set(record['packages']) == set(provenance.PACKAGES)
  assert record['packages']['jax'] == jax.__version__
  stamp = datetime.datetime.fromisoformat(record['time_utc'])
  assert stamp.utcoffset() == datetime.timedelta(0)


def test_argv_defaults_to_sys_argv(monkeypatch):
  monkeypatch.setattr(sys, 'argv', ['prog', '--flag'])
  assert provenance.collect(seed=0)['argv'] == ['prog', '--flag']


def test_git_info_matches_this_checkout():
  info = provenance.git_info()
  top = subprocess.run(['git', '-C', provenance._REPO_ROOT, 'rev-parse', 'HEAD'],
                       capture_output=True, text=True, check=False)
  expected = top.stdout.strip() if top.returncode == 0 else None  # None: no commit.
  assert info['revision'] == expected
  assert isinstance(info['dirty'], bool)


def test_git_info_outside_a_repository_is_none(monkeypatch, tmp_path):
  monkeypatch.setattr(provenance, '_REPO_ROOT', str(tmp_path))
  assert provenance.git_info() == {'revision': None, 'dirty': None}


def test_git_info_without_git_is_none(monkeypatch):
  monkeypatch.setenv('PATH', '')
  assert provenance.git_info() == {'revision': None, 'dirty': None}


def test_missing_package_is_none():
  versions = provenance.package_versions(['numpy', 'surely-not-installed-pkg'])
  assert versions['numpy'] is not None
  assert versions['surely-not-installed-pkg'] is None


def test_write_round_trips(tmp_path):
  record = provenance.collect(seed=3, argv=['x'])
  path = provenance.write(tmp_path / 'run', record)
  assert path == str(tmp_path / 'run' / 'provenance.json')
  with open(path, encoding='utf-8') as f:
    assert json.load(f) == record
  assert not (tmp_path / 'run' / 'provenance.json.tmp').exists()


def test_seed_must_be_integral():
  with pytest.raises((TypeError, ValueError)):
    provenance.collect(seed='abc', argv=[])
