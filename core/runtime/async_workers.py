"""The asynchronous runtime of A3C and its siblings (Mnih et al. 2016): Hogwild! workers.

``N`` workers run at once, each with its own host vector environment (one environment in
the paper). A worker repeats:

  1. copy the shared parameters (its local θ'), and act ``t_max`` steps with them
     (``core/runtime/host_rollout.py``; unrolls run across episode ends, which the
     trajectory's discounts and ``first`` flags mark);
  2. take the learner's gradient at θ' (``Learner.gradient``, jitted);
  3. read the shared state as it is *now* (other workers have moved it since step 1),
     run ``Learner.apply`` on it (jitted) and add the change to the shared buffers in
     place.

What is shared: the whole ``core.learner.LearnerState``: the parameters, the optimiser's
statistics (RMSProp's mean square: the paper's *shared* RMSProp, one set of statistics
for all workers), its step count (which drives the learning-rate schedule) and any extra
state (the Q-learners' target parameters). ``core/runtime/shared_tree.py`` holds it.

What is locked: not the parameters or statistics. Step 3 adds ``apply``'s change with
numpy's in-place ``+=`` and no lock (Hogwild!): two workers adding at once can lose one
increment of an element, and no worker ever waits for another. One lock guards two
integers: ``claimed``, the update tickets (a worker takes one before each segment, so the
run makes exactly ``num_updates`` updates), and ``applied``, the updates finished (the
update number a snapshot or checkpoint carries).

Workers are processes by default, threads on request (``backend``). Threads would share
memory for free, but each environment step and each dispatch of a jitted call holds
Python's GIL, so two threads stepping CartPole run little faster than one;
``scripts/bench_a3c.py`` measures both (results/bench/a3c.json). Processes are spawned
(never forked: JAX is multithreaded), map the shared buffers, and run XLA single-threaded
so that ``N`` workers use ``N`` cores. Their ``make_parts`` must be picklable (a
module-level function or a ``functools.partial`` of one); threads take any callable.

Deterministic mode (``deterministic=True``): workers still act and take gradients in
parallel, but in rounds: all read the same parameters, then apply their gradients one at a
time in worker order, then the next round starts. Two runs with one seed give the same
parameters bit for bit, which Hogwild! cannot; it costs the time workers wait for the
slowest one in each round.

Shutdown: the session sets one stop event (the budget is spent, Ctrl-C, a failure); every
worker finishes its segment and exits. A worker that raises reports its traceback and
sets the event; the coordinator raises ``WorkerError`` with it at its next poll (within
``_POLL_S``). A worker process that dies without a report (killed) is found the same way.
"""

import dataclasses
import multiprocessing
import os
import queue
import threading
import time
import traceback
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from core import agent as agent_lib
from core import host_env
from core import learner as learner_lib
from core.runtime import host_rollout
from core.runtime import shared_tree

_POLL_S = 0.05
BACKENDS = ('process', 'thread')
# One core per worker process: XLA's CPU thread pools would otherwise make every worker
# spread its work over all cores and fight the others.
_WORKER_XLA_FLAGS = '--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1'


class WorkerError(RuntimeError):
  """A worker failed; the message holds its traceback."""


class WorkerParts(NamedTuple):
  """What one worker builds for itself (in its own process).

  Attributes:
    agent: the agent (acting with ``step``, its recurrent state from ``initial_state``).
    learner: a learner with ``gradient`` and ``apply`` (``core.learner.split_learner``).
    env: the worker's host vector environment; the worker closes it.
  """
  agent: agent_lib.Agent
  learner: learner_lib.Learner
  env: host_env.HostVectorEnv


class WorkerConfig(NamedTuple):
  """The settings every worker gets (picklable)."""
  num_workers: int
  unroll_length: int
  num_updates: int
  seed: int
  deterministic: bool
  report_interval_s: float
  processes: bool


class _Counters:
  """``claimed`` and ``applied`` updates under one lock (shared by processes or threads)."""

  def __init__(self, ctx, start: int):
    self.lock = ctx.Lock()
    self._claimed = ctx.RawValue('q', start)
    self._applied = ctx.RawValue('q', start)

  def claim(self, limit: int) -> int | None:
    """The next update's number, or None once ``limit`` are claimed."""
    with self.lock:
      if self._claimed.value >= limit:
        return None
      self._claimed.value += 1
      return self._claimed.value - 1

  def finish(self) -> None:
    with self.lock:
      self._applied.value += 1

  @property
  def applied(self) -> int:
    with self.lock:
      return self._applied.value


class _Sync(NamedTuple):
  """The coordination objects a worker receives (process or thread flavour)."""
  stop: Any        # Event
  counters: _Counters
  reports: Any     # Queue of dicts
  barrier: Any     # Barrier of num_workers: the start, and deterministic mode's rounds


@dataclasses.dataclass
class _Report:
  """A worker's figures since its last report."""
  worker: int
  updates: int = 0
  metric_sums: dict = dataclasses.field(default_factory=dict)
  gradient_s: float = 0.0
  apply_s: float = 0.0
  cpu_s: float = 0.0  # CPU time this worker used (its process's, or its thread's)
  since: float = 0.0  # time.monotonic() (one clock for all processes) at the interval's
  until: float = 0.0  # start and end

  def add(self, metrics: dict) -> None:
    self.updates += 1
    for k, v in metrics.items():
      self.metric_sums[k] = self.metric_sums.get(k, 0.0) + float(v)


def worker_seed(seed: int, worker_id: int) -> int:
  """The seed of worker ``worker_id``'s environment and action keys, in [0, 2**30) (what
  every environment accepts)."""
  return int(np.random.SeedSequence([seed, worker_id]).generate_state(1)[0] >> 2)


def change_of(apply: Callable) -> Callable:
  """``(state, grads) -> apply(state, grads) - state``, leaf by leaf (jit it)."""
  return lambda state, grads: jax.tree.map(jnp.subtract, apply(state, grads), state)


def apply_to_shared(shared: shared_tree.SharedTree, apply: Callable, grads, *,
                    hogwild: bool) -> None:
  """Applies ``grads`` to the shared state as it is now, from a copy: with ``hogwild``
  ``apply`` is a jitted ``change_of`` whose result is added in place without a lock;
  otherwise (the caller holds the only turn, as in deterministic mode) it is the jitted
  learner ``apply`` and its result is written."""
  result = jax.device_get(apply(shared.read(), grads))
  if hogwild:
    shared.add(result)
  else:
    shared.write(result)


def _work(worker_id: int, make_parts: Callable[[int], WorkerParts], shared, sync: _Sync,
          cfg: WorkerConfig) -> None:
  """One worker's life: build its parts, run segments until told to stop, report."""
  if cfg.processes:
    # Ctrl-C reaches every process of the terminal's group; the coordinator alone
    # handles it and stops the workers through ``sync.stop``.
    import signal  # pylint: disable=import-outside-toplevel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
  last_report = time.monotonic()
  parts, report = None, _Report(worker_id, since=last_report)
  rollout_stats = host_rollout.RolloutStats()
  cpu_time = time.process_time if cfg.processes else time.thread_time
  last_cpu = cpu_time()

  def send(final=False):
    nonlocal report, last_report, last_cpu
    now_cpu, now = cpu_time(), time.monotonic()
    report.cpu_s, report.until, last_cpu = now_cpu - last_cpu, now, now_cpu
    sync.reports.put(dict(dataclasses.asdict(report), **rollout_stats.drain(),
                          final=final))
    report, last_report = _Report(worker_id, since=now), now

  try:
    parts = make_parts(worker_id)
    if cfg.processes:
      spec = parts.env.spec
      example = jnp.zeros((1,) + tuple(spec.observation_shape), spec.observation_dtype)
      template = jax.eval_shape(
          lambda: parts.learner.init(parts.agent.init(jax.random.PRNGKey(0), example)))
      shared = shared_tree.SharedTree.attach(shared, template)
    if parts.learner.gradient is None or parts.learner.apply is None:
      raise ValueError('the asynchronous runtime needs a learner with gradient and apply '
                       '(core.learner.split_learner)')
    gradient = jax.jit(parts.learner.gradient)
    apply = jax.jit(parts.learner.apply if cfg.deterministic
                    else change_of(parts.learner.apply))
    seed = worker_seed(cfg.seed, worker_id)
    local = shared.read()
    rollout = host_rollout.HostRollout(parts.env, parts.agent.step, parts.agent.initial_state,
                                       local.params, seed=seed, stats=rollout_stats)
    key = jax.random.PRNGKey(seed)

    def segment(local, update):
      trajectory = rollout.unroll(local.params, cfg.unroll_length)
      t0 = time.monotonic()
      grads, metrics = gradient(local, trajectory, jax.random.fold_in(key, update))
      grads = jax.block_until_ready(grads)
      report.gradient_s += time.monotonic() - t0
      return grads, metrics

    def apply_shared(grads, hogwild: bool):
      t0 = time.monotonic()
      apply_to_shared(shared, apply, grads, hogwild=hogwild)
      sync.counters.finish()
      report.apply_s += time.monotonic() - t0

    def record(metrics):
      report.add(jax.device_get(metrics))
      if time.monotonic() - last_report >= cfg.report_interval_s:
        send()

    if cfg.deterministic:
      _deterministic_rounds(worker_id, shared, sync, cfg, segment, apply_shared, record)
    else:
      started = False
      while not sync.stop.is_set():
        update = sync.counters.claim(cfg.num_updates)
        if update is not None:
          grads, metrics = segment(shared.read(), update)
        if not started:
          # Everyone's first application waits until every worker has compiled its
          # gradient, so that no worker runs alone while the others compile.
          _wait_or_stop(sync.barrier)
          started = True
        if update is None or sync.stop.is_set():
          break
        apply_shared(grads, hogwild=True)
        record(metrics)
  except BaseException:  # pylint: disable=broad-except
    sync.reports.put({'worker': worker_id, 'error': traceback.format_exc()})
    sync.stop.set()
    sync.barrier.abort()  # the others must not wait for this worker
  else:
    send(final=True)
  finally:
    if parts is not None:
      parts.env.close()
    if cfg.processes and isinstance(shared, shared_tree.SharedTree):
      shared.close()


def _wait_or_stop(barrier) -> None:
  try:
    barrier.wait()
  except threading.BrokenBarrierError:  # the session stopped; the caller sees its event
    pass


def _deterministic_rounds(worker_id, shared, sync, cfg, segment, apply_shared, record):
  """Rounds of: all read, all act and take gradients, apply one at a time in worker
  order. Barrier waits end with ``BrokenBarrierError`` when the session stops."""
  broken = (threading.BrokenBarrierError,)
  round_start = sync.counters.applied
  try:
    while round_start < cfg.num_updates and not sync.stop.is_set():
      sync.barrier.wait()           # the previous round's applications are done
      local = shared.read()
      sync.barrier.wait()           # nobody applies before everyone has read
      update = round_start + worker_id
      grads, metrics = segment(local, update)
      for turn in range(cfg.num_workers):
        if turn == worker_id and update < cfg.num_updates:
          apply_shared(grads, hogwild=False)
          record(metrics)
        sync.barrier.wait()
      round_start += cfg.num_workers
  except broken:
    pass


def _process_entry(worker_id, make_parts, layout, sync, cfg):
  """A worker process's entry: one XLA thread, then the worker."""
  flags = os.environ.get('XLA_FLAGS', '')
  os.environ['XLA_FLAGS'] = f'{flags} {_WORKER_XLA_FLAGS}'.strip()
  _work(worker_id, make_parts, layout, sync, cfg)


class AsyncWorkers:
  """Hogwild! workers on one machine; ``start(state)`` launches them.

  Args:
    make_parts: ``worker_id -> WorkerParts``, called inside each worker (picklable for
      the process backend).
    num_workers: workers running at once.
    unroll_length: ``t_max``, environment steps per update.
    num_updates: updates after which the workers stop (the run's budget).
    seed: seeds every worker's environment, action and loss keys (``worker_seed``).
    backend: 'process' or 'thread'.
    deterministic: apply gradients in rounds in a fixed order (module docstring).
    report_interval_s: how often workers send their figures.
  """

  def __init__(self, make_parts: Callable[[int], WorkerParts], *, num_workers: int,
               unroll_length: int, num_updates: int, seed: int = 0,
               backend: str = 'process', deterministic: bool = False,
               report_interval_s: float = 0.5):
    for name, value in (('num_workers', num_workers), ('unroll_length', unroll_length),
                        ('num_updates', num_updates)):
      if not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    if backend not in BACKENDS:
      raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    self.make_parts = make_parts
    self.config = WorkerConfig(num_workers, unroll_length, num_updates, seed,
                               bool(deterministic), report_interval_s,
                               processes=backend == 'process')

  def start(self, state: learner_lib.LearnerState) -> 'AsyncSession':
    """A session continuing from ``state`` (its ``update`` counts as done)."""
    return AsyncSession(self, state)


class AsyncSession:
  """Running workers; a context manager whose ``step`` waits for progress.

  ``step(state)`` waits until at least one more update is applied (or ``min_step_s``
  passed), raises ``WorkerError`` if a worker failed, and returns a snapshot of the
  shared state (``update`` = updates applied) and ``{'reports': [...]}``, the workers'
  reports since the last step (``pool_reports`` pools them).
  """

  def __init__(self, runtime: AsyncWorkers, state: learner_lib.LearnerState,
               min_step_s: float = 0.2):
    self._cfg, self._min_step_s = runtime.config, min_step_s
    self._make_parts = runtime.make_parts
    self._start_update = int(state.update)
    self._state = state
    self._workers, self._shared, self._sync = [], None, None

  # -- lifecycle -------------------------------------------------------------------
  def __enter__(self) -> 'AsyncSession':
    cfg = self._cfg
    ctx = multiprocessing.get_context('spawn') if cfg.processes else None
    self._shared = shared_tree.SharedTree.create(self._state, shared=cfg.processes)
    if cfg.processes:
      self._sync = _Sync(ctx.Event(), _Counters(ctx, self._start_update), ctx.Queue(),
                         ctx.Barrier(cfg.num_workers))
      target, shared = _process_entry, self._shared.layout
      make = lambda i: ctx.Process(target=target, name=f'async-worker-{i}', daemon=True,
                                   args=(i, self._make_parts, shared, self._sync, cfg))
    else:
      self._sync = _Sync(threading.Event(), _Counters(multiprocessing, self._start_update),
                         queue.Queue(),
                         threading.Barrier(cfg.num_workers))
      make = lambda i: threading.Thread(
          target=_work, name=f'async-worker-{i}', daemon=True,
          args=(i, self._make_parts, self._shared, self._sync, cfg))
    self._workers = [make(i) for i in range(cfg.num_workers)]
    for w in self._workers:
      w.start()
    self._finished = set()
    self._pending_error = None
    return self

  def __exit__(self, *exc):
    self.stop()
    deadline = time.monotonic() + 30.0
    for w in self._workers:
      w.join(timeout=max(0.0, deadline - time.monotonic()))
    for w in self._workers:
      if self._cfg.processes and w.is_alive():
        w.terminate()
        w.join(timeout=5.0)
    if self._shared is not None:
      self._shared.unlink()
      self._shared = None
    return False

  def stop(self) -> None:
    """Tells every worker to finish its segment and exit."""
    if self._sync is None:
      return
    self._sync.stop.set()
    self._sync.barrier.abort()

  # -- stepping --------------------------------------------------------------------
  @property
  def applied(self) -> int:
    return self._sync.counters.applied

  def _drain(self, window: list, timeout: float) -> None:
    try:
      report = self._sync.reports.get(timeout=timeout)
    except queue.Empty:
      return
    while True:
      if 'error' in report:
        self._pending_error = report
      else:
        window.append(report)
        if report.get('final'):
          self._finished.add(report['worker'])
      try:
        report = self._sync.reports.get_nowait()
      except queue.Empty:
        return

  def _check_workers(self, window: list) -> None:
    for i, w in enumerate(self._workers):
      if self._cfg.processes and not w.is_alive() and i not in self._finished:
        # Its last report may still be in the queue; read it before calling this a death.
        self._drain(window, _POLL_S)
        if i not in self._finished and self._pending_error is None:
          self.stop()
          raise WorkerError(f'worker {i} exited with code {w.exitcode} without a report')
    if self._pending_error is not None:
      self.stop()
      raise WorkerError(f"worker {self._pending_error['worker']} failed:\n"
                        f"{self._pending_error['error']}")

  def step(self, state=None) -> tuple[learner_lib.LearnerState, dict]:
    """Waits for progress; returns ``(snapshot, figures)``. ``state`` is ignored (the
    shared state is the truth); it is accepted so the session plugs into the host loop."""
    del state
    start, begin = time.monotonic(), self.applied
    window = []
    while True:
      self._drain(window, _POLL_S)
      self._check_workers(window)
      applied = self.applied
      done = applied >= self._cfg.num_updates or self._sync.stop.is_set()
      if done or (applied > begin and time.monotonic() - start >= self._min_step_s):
        break
    if applied >= self._cfg.num_updates:
      # The last updates' reports come with the workers' final messages.
      deadline = time.monotonic() + 10.0
      while (len(self._finished) < len(self._workers) and self._pending_error is None
             and time.monotonic() < deadline):
        self._drain(window, _POLL_S)
      self._check_workers(window)
    snapshot = self._shared.read()._replace(update=np.asarray(applied, np.int32))
    return snapshot, {'reports': window}


def pool_reports(reports: list[dict]) -> dict:
  """The workers' reports of one interval pooled: update-weighted mean metrics, summed
  counts and times, and every episode that ended."""
  updates = sum(r['updates'] for r in reports)
  sums = {}
  for r in reports:
    for k, v in r['metric_sums'].items():
      sums[k] = sums.get(k, 0.0) + v
  pooled = {k: v / updates for k, v in sums.items()} if updates else {}
  pooled['updates'] = updates
  for k in ('env_steps', 'inference_s', 'env_s', 'gradient_s', 'apply_s', 'cpu_s'):
    pooled[k] = sum(r.get(k, 0) for r in reports)
  pooled['episode_returns'] = [x for r in reports for x in r.get('episode_returns', [])]
  pooled['episode_lengths'] = [x for r in reports for x in r.get('episode_lengths', [])]
  return pooled
