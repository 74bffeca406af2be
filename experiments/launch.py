"""Process start-up for launch scripts: preload tcmalloc where it is installed.

XLA:CPU allocates and frees many short-lived buffers per update, and glibc's malloc makes
that a bottleneck for CPU learners; what tcmalloc changes is measured by
``scripts/bench_impala.py`` (both allocators in one run, results/bench/impala.json). A library cannot be preloaded after
the process has started, so ``preload_tcmalloc`` re-executes the script once with
``LD_PRELOAD`` set. Install it with ``apt-get install libtcmalloc-minimal4``; set
``RECURRAX_TCMALLOC=0`` to opt out.
"""

import os
import sys

TCMALLOC_PATHS = (
    '/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4',
    '/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4',
    '/usr/lib64/libtcmalloc_minimal.so.4',
)
_MARK = 'RECURRAX_TCMALLOC_PRELOADED'


def tcmalloc_path() -> str | None:
  """The first tcmalloc library present on this machine, or None."""
  return next((p for p in TCMALLOC_PATHS if os.path.exists(p)), None)


def preload_tcmalloc() -> bool:
  """Re-executes this process with tcmalloc preloaded (once); returns False if it was not.

  Returns True only in the re-executed process (``os.execv`` does not return).
  """
  if os.environ.get(_MARK):
    return True
  path = tcmalloc_path()
  if (path is None or os.environ.get('RECURRAX_TCMALLOC', '1') == '0'
      or 'tcmalloc' in os.environ.get('LD_PRELOAD', '')):
    return False
  env = dict(os.environ, **{_MARK: '1'})
  env['LD_PRELOAD'] = ':'.join(filter(None, [path, os.environ.get('LD_PRELOAD')]))
  sys.stdout.flush()
  sys.stderr.flush()
  # orig_argv keeps the interpreter options and a -c or -m target, unlike argv.
  os.execve(sys.executable, [sys.executable] + sys.orig_argv[1:], env)
  return True  # not reached
