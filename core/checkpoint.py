"""Checkpoints of a run's state: a thin layer over orbax's ``CheckpointManager``.

The state is any pytree of arrays (a NamedTuple of params, optimiser state, PRNG
keys, counters). Saves are synchronous, and orbax writes each step to a temporary
directory that it renames only when complete, so a run killed during or right after
``save`` never leaves a half-written checkpoint counted as the latest one.

Every failure to read a checkpoint surfaces as one ``CheckpointError`` whose message
says which step, where, and what to do, with orbax's exception chained as the cause.

Nothing here changes global state beyond a call or a ``Checkpointer``'s lifetime: the
filters on the 'absl' logger are added for one call (or until ``close``), and no hook
or other library's logger is touched.
"""

import asyncio
import contextlib
import logging
import os
from typing import Any, TypeVar
import weakref

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


# How long a failed read waits for the others started with it; see below.
_ABANDONED_READS_TIMEOUT_S = 300.0


async def _await_every_task(coro):
  """Awaits ``coro``; if it fails, first waits for the tasks it started to finish.

  Orbax reads arrays (and their metadata) in a fresh event loop, as tasks gathered
  without ``return_exceptions``: when one array fails to read (a truncated or missing
  file), the failure propagates while the other arrays' reads are still in flight,
  and orbax closes the loop. As each of those reads later finishes it calls back into
  the closed loop, or is garbage collected with its exception unread, and Python
  reports it ("Event loop is closed", "Task exception was never retrieved") with a
  traceback pages long, often after our ``CheckpointError`` and burying it. Held back
  here, inside orbax's still-running loop, until every task started since has
  finished and its exception is retrieved, the failure leaves nothing to report. The
  tasks are waited for, not cancelled: a cancelled one still leaves tensorstore's
  callback pending, which calls into the closed loop all the same.
  """
  before = asyncio.all_tasks()
  try:
    return await coro
  except Exception:
    # The tasks started since: ``coro``'s (and, harmlessly, any sibling's).
    started = asyncio.all_tasks() - before
    if started:
      # A read that hangs past this is left to report itself, as orbax would.
      done, _ = await asyncio.wait(started, timeout=_ABANDONED_READS_TIMEOUT_S)
      for task in done:
        if not task.cancelled():
          task.exception()  # Marks it retrieved.
    raise


class _AwaitEveryTask(ocp.type_handlers.TypeHandler):
  """One of orbax's type handlers, with ``_await_every_task`` around its reads.

  Writes are passed through as they are: orbax's saves may leave work running on
  purpose (commit futures), and ``save`` failing is not what this is about.
  """

  def __init__(self, inner: ocp.type_handlers.TypeHandler):
    self._inner = inner

  def __getattr__(self, name):
    if name == '_inner':  # Not set yet (as in a copy): no recursion.
      raise AttributeError(name)
    return getattr(self._inner, name)

  def typestr(self) -> str:
    return self._inner.typestr()

  async def metadata(self, infos):
    return await _await_every_task(self._inner.metadata(infos))

  async def serialize(self, values, infos, args=None):
    return await self._inner.serialize(values, infos, args)

  async def deserialize(self, infos, args=None):
    return await _await_every_task(self._inner.deserialize(infos, args))

  def finalize(self, directory):
    return self._inner.finalize(directory)


def _type_handlers() -> ocp.type_handlers.TypeHandlerRegistry:
  """Orbax's handlers for its standard types, each wrapped in ``_AwaitEveryTask``.

  A registry of the Checkpointer's own: orbax's global one is left as it is.
  """
  return ocp.type_handlers.create_type_handler_registry(*[
      (ty, _AwaitEveryTask(ocp.type_handlers.get_type_handler(ty)))
      for ty in ocp.type_handlers.supported_types()])


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


_ARRAY_TYPES = (jax.Array, np.ndarray, jax.ShapeDtypeStruct)


def _check_array_leaves(tree, what: str) -> None:
  """Orbax restores only array leaves, so refuse anything else on the way in."""
  if all(isinstance(leaf, _ARRAY_TYPES) for leaf in jax.tree.leaves(tree)):
    return  # The common case, without building key paths.
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  for path, leaf in leaves:
    if not isinstance(leaf, _ARRAY_TYPES):
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

    checkpointer = Checkpointer(os.path.join(workdir, 'checkpoints'),
                                save_interval_s=600)
    if checkpointer.latest_step() is not None:
      state = checkpointer.restore(state)   # state built fresh, used as the template
    for step in ...:
      ...
      checkpointer.maybe_save(step, state)  # saves when the interval has passed
    checkpointer.save(step, state)          # always saves
    checkpointer.close()

  In a multi-process job every process must make the same calls.
  """

  def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2,
               save_interval_s: float | None = None):
    """Opens (or creates) a checkpoint directory.

    Args:
      directory: where the step directories live.
      max_to_keep: how many of the most recent checkpoints to keep.
      save_interval_s: the least time, in seconds, between the previous checkpoint
        (as committed, also by an earlier process) and one that ``maybe_save``
        writes. None: ``maybe_save`` saves every new step. ``save`` ignores it.

    Raises:
      ValueError: if ``max_to_keep`` < 1 or ``save_interval_s`` < 0.
      CheckpointError: if the directory cannot be opened.
    """
    if max_to_keep < 1:
      raise ValueError(f'max_to_keep must be at least 1, got {max_to_keep}')
    if save_interval_s is not None and not save_interval_s >= 0:
      raise ValueError(f'save_interval_s must be at least 0, got {save_interval_s}')
    self.directory = os.path.abspath(os.fspath(directory))
    self.save_interval_s = save_interval_s
    policies = ocp.checkpoint_managers
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policies.LatestN(max_to_keep),
        # Orbax's own decision for ``maybe_save``. On the primary process only, it
        # compares the time now with the commit time of the newest checkpoint (read
        # back from disk on resume) and broadcasts the answer, so all processes agree.
        # It also saves at a preemption sync point of a jax.distributed job.
        save_decision_policy=policies.AnySavePolicy([
            policies.ContinuousCheckpointingPolicy(
                minimum_interval_secs=save_interval_s),
            policies.PreemptionCheckpointingPolicy(),
        ]),
        enable_async_checkpointing=False,
        # Leftovers of a save that was killed midway are never valid; drop them.
        cleanup_tmp_directories=True,
        create=True,
    )
    # For the Checkpointer's lifetime, as orbax also logs from background threads.
    # Removed by ``close``, or when the Checkpointer is garbage collected unclosed.
    drop_info = _DropOrbaxInfo()
    absl_logger = logging.getLogger('absl')
    absl_logger.addFilter(drop_info)
    self._remove_log_filter = weakref.finalize(
        self, absl_logger.removeFilter, drop_info)
    try:
      with _quiet_orbax():
        # Registering the handler up front puts orbax in single-item mode from the
        # start, so a fresh process can read metadata before anything was saved.
        # orbax's PyTree handler (on disk the same as its StandardCheckpointHandler),
        # with its standard type handlers each wrapped in ``_AwaitEveryTask``.
        handler = ocp.PyTreeCheckpointHandler(
            save_concurrent_gb=96, restore_concurrent_gb=96,
            type_handler_registry=_type_handlers())
        registry = ocp.handlers.DefaultCheckpointHandlerRegistry()
        item = ocp.checkpoint_manager.DEFAULT_ITEM_NAME
        registry.add(item, ocp.args.PyTreeSave, handler)
        registry.add(item, ocp.args.PyTreeRestore, handler)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, handler_registry=registry)
      self._closed = False
    except Exception as e:
      self._remove_log_filter()
      raise CheckpointError(
          f'cannot open checkpoint directory {self.directory} '
          f'({_short_cause(e)})') from e

  def all_steps(self) -> list[int]:
    """The steps with a complete checkpoint, ascending."""
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    """The newest step with a complete checkpoint, or None if there is none."""
    return self._manager.latest_step()

  def _check_step(self, step: int) -> int | None:
    """Refuses a step older than the latest checkpoint; returns the latest step."""
    latest = self.latest_step()
    if latest is not None and step < latest:
      raise ValueError(
          f'cannot save step {step} in {self.directory}: a newer checkpoint '
          f'(step {latest}) exists')
    return latest

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
    latest = self._check_step(step)
    if latest == step:
      if not force:
        return False
      with _quiet_orbax():
        self._manager.delete(step)
    with _quiet_orbax():
      # ``force`` here bypasses orbax's save decision policy.
      saved = self._manager.save(step, args=ocp.args.PyTreeSave(state), force=True)
      self._manager.wait_until_finished()
    return saved

  def maybe_save(self, step: int, state: Any) -> bool:
    """Saves like ``save`` if ``save_interval_s`` has passed since the last checkpoint.

    Orbax decides (see ``__init__``): with no checkpoint yet it saves. Meant to be
    offered every step. A call that does not save takes about 0.1 ms, or about
    0.5 ms under jax.distributed, where orbax's answer is a key-value round trip
    through the coordinator (measured on one host). That is cheap enough not to
    pre-check on a local clock and skip asking orbax, which could also let the
    processes of a job disagree and then wait for each other at a barrier.

    Returns:
      Whether a checkpoint was written: False when the interval has not passed, or
      ``step`` is already saved.

    Raises:
      ValueError: if ``step`` is older than the latest checkpoint.
      TypeError: if a leaf of ``state`` is not an array.
    """
    step = int(step)
    _check_array_leaves(state, 'state')
    if self._check_step(step) == step:
      return False
    with _quiet_orbax():
      saved = self._manager.save(step, args=ocp.args.PyTreeSave(state))
      if saved:
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
        arrays do not match ``target``'s. Reads already started when one fails are
        waited for first, so nothing reports itself after the error.
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
        return self._manager.restore(step, args=ocp.args.PyTreeRestore(
            abstract,
            restore_args=ocp.checkpoint_utils.construct_restore_args(abstract)))
    except Exception as e:
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
    try:
      with _quiet_orbax():
        self._manager.close()
    finally:
      self._remove_log_filter()

  def __enter__(self) -> 'Checkpointer':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()
