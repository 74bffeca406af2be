"""Ctrl-C and SIGTERM as a request to stop cleanly, for the duration of a training run.

``stop_on_signals()`` routes SIGINT and SIGTERM to a ``threading.Event`` that the host loop
(``core.runtime.loop``) checks after every step: the step in flight finishes, and the run
saves a checkpoint of exactly that state before it returns. A second signal of the same
kind raises ``KeyboardInterrupt`` at once, for a run that does not stop soon enough.
The previous handlers come back when the context ends; outside the main thread (where
Python cannot install handlers) the event is returned untouched and signals keep their
default behaviour.
"""

import contextlib
import signal
import threading

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals():
  """Yields an event that SIGINT or SIGTERM sets; ``.signal`` names the first one."""
  stop = threading.Event()
  stop.signal = None
  if threading.current_thread() is not threading.main_thread():
    yield stop
    return

  def handle(signum, frame):
    del frame
    if stop.is_set():
      raise KeyboardInterrupt
    stop.signal = signal.Signals(signum).name
    stop.set()

  previous = {s: signal.signal(s, handle) for s in _SIGNALS}
  try:
    yield stop
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
