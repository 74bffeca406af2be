"""Checkpoints of a run's state: a thin layer over orbax's ``CheckpointManager``.

The state is any pytree of arrays (a NamedTuple of params, optimiser state, PRNG
keys, counters). Saves are synchronous, and orbax writes each step to a temporary
directory that it renames only when complete, so a run killed during or right after
``save`` never leaves a half-written checkpoint counted as the latest one.

Every failure to read a checkpoint surfaces as one ``CheckpointError`` whose message
says which step, where, and what to do, with orbax's exception chained as the cause.
"""

import contextlib
import logging
import os
import sys
from typing import Any, TypeVar

import jax
import numpy as np
import orbax.checkpoint as ocp

T = TypeVar('T')

_ORBAX_DIR = os.path.dirname(os.path.dirname(os.path.abspath(ocp.__file__)))


class CheckpointError(RuntimeError):
  """A checkpoint is missing, unreadable, or does not fit the state to restore."""


def _from_orbax(record: logging.LogRecord) -> bool:
  return record.pathname.startswith(_ORBAX_DIR)


class _DropOrbaxInfo(logging.Filter):
  """Drops orbax's INFO chatter: handler set-up, timings, background clean-ups."""

  def filter(self, record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not _from_orbax(record)


class _HoldOrbaxLogs(logging.Filter):
  """Drops orbax's INFO chatter and holds back its warnings and errors.

  Held records are re-emitted if the operation succeeds. If it fails, the
  ``CheckpointError`` says what went wrong and they would only repeat it.
  """

  def __init__(self):
    super().__init__()
    self.held = []

  def filter(self, record: logging.LogRecord) -> bool:
    if not _from_orbax(record):
      return True
    if record.levelno >= logging.WARNING:
      self.held.append(record)
    return False


@contextlib.contextmanager
def _quiet_orbax():
  """Filters orbax's log records (logged through absl) while orbax runs."""
  logger = logging.getLogger('absl')
  log_filter = _HoldOrbaxLogs()
  logger.addFilter(log_filter)
  try:
    yield
  finally:
    logger.removeFilter(log_filter)
  # Reached only on success: an exception skips the replay.
  for record in log_filter.held:
    logger.handle(record)


def _raised_in_orbax(exc: BaseException | None) -> bool:
  tb = exc.__traceback__ if exc is not None else None
  while tb is not None:
    if tb.tb_frame.f_code.co_filename.startswith(_ORBAX_DIR):
      return True
    tb = tb.tb_next
  return False


class _AbandonedReads(logging.Filter):
  """Recognises the errors of reads orbax abandoned when a restore failed.

  When one array of a checkpoint fails to read, orbax gives up on the others while
  they are still in flight. As each one later fails, is garbage collected, or calls
  back into orbax's closed event loop, Python reports it ("Task exception was never
  retrieved", "Exception ignored in", "Event loop is closed") with a traceback pages
  long, often after the ``CheckpointError`` and burying it. This drops exactly those
  reports: errors raised in orbax code or naming a checkpoint that failed to restore.
  """

  def __init__(self):
    super().__init__()
    self.failed_paths = set()

  def matches(self, exc: BaseException | None) -> bool:
    if exc is None:
      return False
    if isinstance(exc, RuntimeError) and str(exc) == 'Event loop is closed':
      return True  # Tensorstore calling back into the loop orbax closed.
    text = str(exc)
    return _raised_in_orbax(exc) or any(path in text for path in self.failed_paths)

  def filter(self, record: logging.LogRecord) -> bool:
    """Drops asyncio's "exception was never retrieved" records of abandoned reads."""
    if 'never retrieved' not in record.getMessage() or not record.exc_info:
      return True
    return not self.matches(record.exc_info[1])

  def unraisable_hook(self, previous_hook):
    """Wraps ``sys.unraisablehook`` to drop the abandoned reads' exceptions."""

    def hook(unraisable):
      if not self.matches(unraisable.exc_value):
        previous_hook(unraisable)

    hook.drops_abandoned_orbax_reads = True
    return hook


_ABANDONED_READS = _AbandonedReads()


def _ignore_abandoned_reads(step_dir: str) -> None:
  """Silences the aftermath of a failed restore of ``step_dir`` (see above)."""
  _ABANDONED_READS.failed_paths.add(step_dir)
  # Installed on the first failure only, and never on the success path.
  asyncio_logger = logging.getLogger('asyncio')
  if _ABANDONED_READS not in asyncio_logger.filters:
    asyncio_logger.addFilter(_ABANDONED_READS)
  if not getattr(sys.unraisablehook, 'drops_abandoned_orbax_reads', False):
    sys.unraisablehook = _ABANDONED_READS.unraisable_hook(sys.unraisablehook)


def _short_cause(exc: BaseException, limit: int = 200) -> str:
  """``Type: first line of the message``, cut to ``limit`` characters."""
  lines = str(exc).strip().splitlines()
  text = f'{type(exc).__name__}: {lines[0]}' if lines else type(exc).__name__
  return text if len(text) <= limit else text[:limit - 3] + '...'


def _path_name(path) -> str:
  """``params.dense.w`` for a jax key path (attribute, dict key or index)."""
  parts = []
  for key in path:
    for attr in ('name', 'key', 'idx'):
      if hasattr(key, attr):
        parts.append(str(getattr(key, attr)))
        break
    else:
      parts.append(str(key))
  return '.'.join(parts)


def _shapes_by_name(tree) -> dict[str, tuple[int, ...]]:
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {_path_name(path): tuple(leaf.shape) for path, leaf in leaves}


def _describe_mismatch(abstract_target, stored_tree, limit: int = 5) -> str | None:
  """Says how a checkpoint's arrays differ from the target's, or None if they agree."""
  wanted = _shapes_by_name(abstract_target)
  stored = _shapes_by_name(stored_tree)

  def listing(names):
    names = sorted(names)
    more = f' and {len(names) - limit} more' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more

  problems = []
  if missing := wanted.keys() - stored.keys():
    problems.append(f'missing from checkpoint: {listing(missing)}')
  if extra := stored.keys() - wanted.keys():
    problems.append(f'not in state: {listing(extra)}')
  if reshaped := [
      f'{name} {stored[name]} saved vs {wanted[name]} wanted'
      for name in sorted(wanted.keys() & stored.keys())
      if wanted[name] != stored[name]
  ]:
    problems.append(f'shape differs: {listing(reshaped)}')
  return '; '.join(problems) or None


def _check_array_leaves(tree, what: str) -> None:
  """Orbax restores only array leaves, so refuse anything else on the way in."""
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  for path, leaf in leaves:
    if not isinstance(leaf, (jax.Array, np.ndarray, jax.ShapeDtypeStruct)):
      raise TypeError(
          f'{what} leaf {_path_name(path) or "<root>"!r} is a '
          f'{type(leaf).__name__}; checkpointed state must hold only arrays '
          '(wrap scalars with jnp.asarray)')


def _to_abstract(leaf):
  if isinstance(leaf, jax.ShapeDtypeStruct):
    return leaf
  return ocp.utils.to_shape_dtype_struct(leaf)


class Checkpointer:
  """Saves and restores one run's state under ``directory/<step>/``.

  Usage::

    checkpointer = Checkpointer(os.path.join(workdir, 'checkpoints'))
    if checkpointer.latest_step() is not None:
      state = checkpointer.restore(state)   # state built fresh, used as the template
    ...
    checkpointer.save(step, state)
    checkpointer.close()

  In a multi-process job every process must make the same calls.
  """

  def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2):
    """Opens (or creates) a checkpoint directory.

    Args:
      directory: where the step directories live.
      max_to_keep: how many of the most recent checkpoints to keep.

    Raises:
      ValueError: if ``max_to_keep`` < 1.
      CheckpointError: if the directory cannot be opened.
    """
    if max_to_keep < 1:
      raise ValueError(f'max_to_keep must be at least 1, got {max_to_keep}')
    self.directory = os.path.abspath(os.fspath(directory))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=ocp.checkpoint_managers.LatestN(max_to_keep),
        enable_async_checkpointing=False,
        # Leftovers of a save that was killed midway are never valid; drop them.
        cleanup_tmp_directories=True,
        create=True,
    )
    # For the Checkpointer's lifetime, as orbax also logs from background threads.
    self._drop_info = _DropOrbaxInfo()
    logging.getLogger('absl').addFilter(self._drop_info)
    try:
      with _quiet_orbax():
        # Registering the handler up front puts orbax in single-item mode from the
        # start, so a fresh process can read metadata before anything was saved.
        handler = ocp.StandardCheckpointHandler()
        registry = ocp.handlers.DefaultCheckpointHandlerRegistry()
        item = ocp.checkpoint_manager.DEFAULT_ITEM_NAME
        registry.add(item, ocp.args.StandardSave, handler)
        registry.add(item, ocp.args.StandardRestore, handler)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, handler_registry=registry)
      self._closed = False
    except Exception as e:
      logging.getLogger('absl').removeFilter(self._drop_info)
      raise CheckpointError(
          f'cannot open checkpoint directory {self.directory} '
          f'({_short_cause(e)})') from e

  def all_steps(self) -> list[int]:
    """The steps with a complete checkpoint, ascending."""
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    """The newest step with a complete checkpoint, or None if there is none."""
    return self._manager.latest_step()

  def save(self, step: int, state: Any, *, force: bool = False) -> bool:
    """Writes ``state`` as the checkpoint of ``step`` and waits until it is on disk.

    Older checkpoints beyond ``max_to_keep`` are deleted afterwards.

    Args:
      step: the step the state belongs to.
      state: a pytree whose leaves are all arrays.
      force: replace an existing checkpoint of ``step`` instead of keeping it. The
        old one is deleted first, so a kill in between leaves only older steps.

    Returns:
      Whether a checkpoint was written: False when ``step`` is already saved (for
      example a resumed run saving the step it restored) and ``force`` is not set.

    Raises:
      ValueError: if ``step`` is older than the latest checkpoint, which would make
        ``latest_step`` point at the wrong state on resume.
      TypeError: if a leaf of ``state`` is not an array.
    """
    step = int(step)
    _check_array_leaves(state, 'state')
    latest = self.latest_step()
    if latest is not None and step < latest:
      raise ValueError(
          f'cannot save step {step} in {self.directory}: a newer checkpoint '
          f'(step {latest}) exists')
    if latest == step:
      if not force:
        return False
      with _quiet_orbax():
        self._manager.delete(step)
    with _quiet_orbax():
      saved = self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
      self._manager.wait_until_finished()
    return saved

  def restore(self, target: T, step: int | None = None) -> T:
    """Reads a checkpoint into the structure, dtypes and shardings of ``target``.

    Args:
      target: a pytree like the saved state (arrays or ``jax.ShapeDtypeStruct``s);
        only its structure, shapes, dtypes and shardings are used. NamedTuples and
        other pytree node types come back as the same types.
      step: the step to read; the latest one if None.

    Returns:
      The restored state, with ``target``'s tree structure.

    Raises:
      CheckpointError: if there is no such checkpoint, it cannot be read, or its
        arrays do not match ``target``'s.
      TypeError: if a leaf of ``target`` is not an array.
    """
    _check_array_leaves(target, 'restore target')
    steps = self.all_steps()
    if step is None:
      if not steps:
        raise CheckpointError(f'no checkpoint in {self.directory}')
      step = steps[-1]
    step = int(step)
    if step not in steps:
      available = ', '.join(map(str, steps)) or 'none'
      raise CheckpointError(
          f'no checkpoint step {step} in {self.directory} (available: {available})')
    abstract = jax.tree.map(_to_abstract, target)
    try:
      with _quiet_orbax():
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:
      _ignore_abandoned_reads(os.path.join(self.directory, str(step), ''))
      mismatch = self._mismatch(step, abstract)
      if mismatch:
        raise CheckpointError(
            f'checkpoint step {step} in {self.directory} does not match the state '
            f'to restore ({mismatch}); it was written by a different model or '
            'config: start with a new --workdir') from e
      raise CheckpointError(
          f'checkpoint step {step} in {self.directory} is corrupt or unreadable '
          f'({_short_cause(e)}); delete it or start with a new --workdir') from e

  def _mismatch(self, step: int, abstract_target) -> str | None:
    """Compares the target with the checkpoint's metadata; None if unreadable."""
    try:
      with _quiet_orbax():
        stored = self._manager.metadata(step).item_metadata
      return _describe_mismatch(abstract_target, stored.tree)
    except Exception:  # pylint: disable=broad-except
      # Unreadable metadata means the checkpoint is corrupt, which the caller reports.
      return None

  def close(self) -> None:
    """Waits for pending work (deletions) and releases orbax's resources."""
    if self._closed:
      return
    self._closed = True
    with _quiet_orbax():
      self._manager.close()
    logging.getLogger('absl').removeFilter(self._drop_info)

  def __enter__(self) -> 'Checkpointer':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()
