"""The documentation stays true: its examples run, its links resolve, its excerpts match.

Each example in docs/examples/ is run in-process as ``__main__`` (its own asserts check
what it shows); every relative link in docs/architecture.md and README.md must name a file
or folder inside the repository; and every code block that docs/architecture.md marks as
an excerpt (``<!-- excerpt: examples/<file>.py -->`` on the line before it) must appear
verbatim in that file.
"""

import pathlib
import re
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / 'docs'
EXAMPLES = sorted((DOCS / 'examples').glob('*.py'))
LINKED_DOCUMENTS = [DOCS / 'architecture.md', ROOT / 'README.md']

_FENCED = re.compile(r'^```.*?^```', re.MULTILINE | re.DOTALL)
_LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
_REFERENCE = re.compile(r'^\s*\[[^\]]+\]:\s*(\S+)', re.MULTILINE)
_SCHEME = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')
_EXCERPT = re.compile(r'<!--\s*excerpt:\s*(\S+)\s*-->\s*\n```[a-z]*\n(.*?)^```',
                      re.MULTILINE | re.DOTALL)


def test_the_three_examples_are_there():
  assert [p.name for p in EXAMPLES] == [
      'add_agent.py', 'add_environment.py', 'add_memory_core.py']


@pytest.mark.parametrize('path', EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path):
  runpy.run_path(str(path), run_name='__main__')


def _link_targets(document: pathlib.Path) -> list[str]:
  text = _FENCED.sub('', document.read_text(encoding='utf-8'))  # code is not a link
  return _LINK.findall(text) + _REFERENCE.findall(text)


@pytest.mark.parametrize('document', LINKED_DOCUMENTS, ids=lambda p: p.name)
def test_relative_links_point_inside_the_repository(document):
  broken = []
  for target in _link_targets(document):
    if _SCHEME.match(target) or target.startswith('#'):
      continue  # a URL or an anchor in the same page
    path = target.split('#', 1)[0]
    resolved = (document.parent / path).resolve()
    if path.startswith('/') or not resolved.is_relative_to(ROOT) or not resolved.exists():
      broken.append(target)
  assert not broken, f'{document.relative_to(ROOT)}: links to missing or outside files: {broken}'


def test_architecture_links_only_repository_files():
  external = [t for t in _link_targets(DOCS / 'architecture.md') if _SCHEME.match(t)]
  assert not external, f'docs/architecture.md links outside the repository: {external}'
  assert '../shared' not in (DOCS / 'architecture.md').read_text(encoding='utf-8')


def test_architecture_excerpts_match_the_examples():
  excerpts = _EXCERPT.findall((DOCS / 'architecture.md').read_text(encoding='utf-8'))
  assert len(excerpts) >= 3
  for name, code in excerpts:
    source = (DOCS / name).read_text(encoding='utf-8')
    assert code in source, f'docs/architecture.md quotes {name} but the file differs:\n{code}'
