"""The single-machine IMPALA runtime: actor threads, a trajectory queue, one learner.

Each actor thread owns one host vector environment (``core/host_env.py``) of ``N``
environments and runs batched, jitted policy inference on the latest published
parameters. Every ``T`` steps it enqueues an unroll: ``T + 1`` observations (the last one
bootstraps and is also the first of the next unroll), the behaviour policy's extras, the
recurrent state at the unroll's start, and the parameter version that acted.

The learner takes ``B / N`` unrolls at a time, concatenates them along the batch axis,
runs one jitted V-trace update and publishes the new parameters; actors pick them up at
their next unroll without ever stopping. Policy lag is the learner's version minus the
behaviour version of each unroll.

With ``replay_ratio = k > 0`` only ``B / (k + 1)`` of each batch's environment-unrolls
are fresh from the queue; the other ``k B / (k + 1)`` are drawn from a FIFO replay of
recent unrolls (``core/runtime/replay.py``), so every unroll is learnt from ``k + 1``
times on average and the learner takes ``k + 1`` times the gradient steps per frame.

Shutdown is cooperative: one ``threading.Event`` stops every loop, queue operations wait
in short slices so they notice it, and an actor that raises stops the run and has its
exception re-raised by the learner (``ActorError``) instead of leaving it waiting.
"""

import queue
import threading
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from core import agent as agent_lib
from core import env as env_lib
from core import host_env
from core import learner as learner_lib
from core import parallel
from core import types
from core.runtime import host_rollout
from core.runtime import replay as replay_lib

_POLL_S = 0.05  # how often blocked queue operations look at the stop event


class ActorError(RuntimeError):
  """An actor thread raised; the run was stopped. The actor's exception is the cause."""


class Unroll(NamedTuple):
  trajectory: types.Trajectory  # numpy, [T(+1), N, ...]
  behaviour_version: int        # the parameter version that acted
  actor_id: int


class ParameterStore:
  """The latest parameters and their version; readers never block the writer for long."""

  def __init__(self, params, version: int = 0):
    self._lock = threading.Lock()
    self._params, self._version = params, version

  def publish(self, params, version: int):
    with self._lock:
      self._params, self._version = params, version

  def latest(self):
    with self._lock:
      return self._params, self._version


class Actor(threading.Thread):
  """Steps one host vector environment and enqueues unrolls of ``unroll_length`` steps."""

  def __init__(self, actor_id: int, make_env: Callable[[], host_env.HostVectorEnv],
               policy_step: Callable, initial_state: Callable[[Any, Any, int], Any],
               store: ParameterStore, trajectories: queue.Queue, stop: threading.Event,
               *, unroll_length: int, seed: int):
    super().__init__(name=f'actor-{actor_id}', daemon=True)
    self.actor_id, self._make_env, self._policy_step = actor_id, make_env, policy_step
    self._initial_state, self._store, self._queue = initial_state, store, trajectories
    self._stop_event, self._unroll_length, self._seed = stop, unroll_length, seed
    self.stats = host_rollout.RolloutStats()
    self.error: BaseException | None = None

  def run(self):
    try:
      self._loop()
    except BaseException as e:  # pylint: disable=broad-except
      self.error = e
      self._stop_event.set()

  def _put(self, item) -> bool:
    start = time.monotonic()
    while not self._stop_event.is_set():
      try:
        self._queue.put(item, timeout=_POLL_S)
        with self.stats.lock:
          self.stats.queue_wait_s += time.monotonic() - start
        return True
      except queue.Full:
        continue
    return False

  def _loop(self):
    env = self._make_env()
    try:
      rollout = host_rollout.HostRollout(
          env, self._policy_step, self._initial_state, self._store.latest()[0],
          seed=self._seed, stats=self.stats)
      while not self._stop_event.is_set():
        params, version = self._store.latest()
        trajectory = rollout.unroll(params, self._unroll_length)
        if not self._put(Unroll(trajectory, version, self.actor_id)):
          return
    finally:
      env.close()


class Session:
  """A running set of actors feeding one learner; use as a context manager.

  ``step(state)`` takes one batch from the queue, updates, publishes the parameters and
  returns ``(state, metrics)``. Leaving the context stops and joins every actor, whether
  the run finished, an actor failed, or the user pressed Ctrl-C.
  """

  def __init__(self, runtime: 'ActorLearner', state: learner_lib.LearnerState):
    self._rt = runtime
    self._stop_event = threading.Event()
    self._queue = queue.Queue(maxsize=runtime.queue_capacity)
    self._store = ParameterStore(runtime.actor_params(state.params), int(state.update))
    self.actors = [
        Actor(i, lambda i=i: runtime.make_env(i), runtime.policy_step,
              runtime.agent.initial_state, self._store, self._queue, self._stop_event,
              unroll_length=runtime.unroll_length, seed=runtime.seed + 1000 * (i + 1) +
              int(state.update))
        for i in range(runtime.num_actors)]
    self.replay = (replay_lib.UnrollReplay(runtime.replay_capacity, seed=runtime.seed)
                   if runtime.replay_ratio else None)
    self.learner_wait_s = 0.0

  def __enter__(self):
    for actor in self.actors:
      actor.start()
    return self

  def __exit__(self, *exc_info):
    self.close()

  def close(self, timeout_s: float = 30.0):
    self._stop_event.set()
    deadline = time.monotonic() + timeout_s
    for actor in self.actors:
      actor.join(max(0.0, deadline - time.monotonic()))

  def _raise_actor_error(self):
    for actor in self.actors:
      if actor.error is not None:
        raise ActorError(f'{actor.name} failed: {actor.error!r}') from actor.error

  def _get(self) -> Unroll:
    start = time.monotonic()
    while True:
      self._raise_actor_error()
      if self._stop_event.is_set():
        raise ActorError('the actors were stopped')
      try:
        item = self._queue.get(timeout=_POLL_S)
        self.learner_wait_s += time.monotonic() - start
        return item
      except queue.Empty:
        continue

  def queue_fill(self) -> float:
    return self._queue.qsize() / self._queue.maxsize

  def next_batch(self, version: int) -> tuple[types.Trajectory, dict]:
    """The next learner batch (fresh unrolls from the queue, plus replayed ones) on the
    host, and its lag metrics against the learner's ``version``."""
    unrolls = [self._get() for _ in range(self._rt.unrolls_per_batch)]
    parts = [u.trajectory for u in unrolls]
    lags = [version - u.behaviour_version for u in unrolls]
    metrics = {'policy_lag': float(np.mean(lags)), 'policy_lag_max': float(max(lags))}
    if self.replay is not None:
      for u in unrolls:
        self.replay.add(u.trajectory, u.behaviour_version)
      replayed, versions = self.replay.sample(self._rt.replayed_per_batch)
      parts.append(replayed)
      metrics['replay_policy_lag'] = float(np.mean([version - v for v in versions]))
      metrics['replay_size'] = float(len(self.replay))
    batch = jax.tree.map(lambda *x: np.concatenate(x, axis=1),
                         *[p._replace(agent_state=()) for p in parts])
    agent_state = jax.tree.map(lambda *x: np.concatenate(x, axis=0),
                               *[p.agent_state for p in parts])
    return batch._replace(agent_state=agent_state), metrics

  def step(self, state: learner_lib.LearnerState):
    """One learner update on the next batch; publishes the new parameters."""
    version = int(state.update)
    batch, metrics = self.next_batch(version)
    state, learner_metrics = self._rt.update(state, self._rt.put_batch(batch))
    self._store.publish(self._rt.actor_params(state.params), version + 1)
    return state, dict(learner_metrics, **metrics)

  def drain_actor_stats(self) -> dict:
    """Pools the actors' counters since the last call."""
    pooled = [actor.stats.drain() for actor in self.actors]
    out = {k: sum(p[k] for p in pooled) for k in
           ('env_steps', 'queue_wait_s', 'inference_s', 'env_s')}
    out['episode_returns'] = [r for p in pooled for r in p['episode_returns']]
    out['episode_lengths'] = [r for p in pooled for r in p['episode_lengths']]
    return out


class ActorLearner:
  """Builds the pieces of an actor-learner run; ``start(state)`` launches the actors.

  Args:
    agent: the agent's pure functions.
    make_env: ``actor_id -> HostVectorEnv``; called inside each actor thread.
    spec: the environments' ``EnvSpec`` (for the parameters' example input).
    learner: the learner step (``core.learner``; by default from ``agent.loss``). Its
      key for update ``u`` is ``fold_in(PRNGKey(seed), u)``, so a resumed learner draws
      the keys the uninterrupted one would have.
    num_actors: actor threads.
    envs_per_actor: environments in each actor's vector env (N).
    batch_size: environments' unrolls per learner batch (B); a multiple of N.
    unroll_length: T.
    queue_capacity: unrolls (of N environments each) the queue holds.
    replay_ratio: replayed environment-unrolls per fresh one in each batch (0: none);
      the fresh share ``B / (replay_ratio + 1)`` must be a multiple of N.
    replay_capacity: environment-unrolls the replay keeps (with ``replay_ratio``).
    seed: seeds the environments and the actors' sampling.
    learner_mesh: shard each learner batch over this mesh's ``data`` axis (parameters
      replicated; XLA all-reduces the gradients). Actors act with a single-device copy.
  """

  def __init__(self, agent: agent_lib.Agent,
               make_env: Callable[[int], host_env.HostVectorEnv],
               spec: env_lib.EnvSpec, learner: learner_lib.Learner, *, num_actors: int,
               envs_per_actor: int, batch_size: int, unroll_length: int,
               queue_capacity: int = 4, replay_ratio: int = 0,
               replay_capacity: int = 1024, seed: int = 0,
               learner_mesh: jax.sharding.Mesh | None = None):
    for name, value in (('num_actors', num_actors), ('envs_per_actor', envs_per_actor),
                        ('batch_size', batch_size), ('unroll_length', unroll_length),
                        ('queue_capacity', queue_capacity)):
      if not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    if not isinstance(replay_ratio, int) or replay_ratio < 0:
      raise ValueError(f'replay_ratio must be a non-negative integer, got {replay_ratio!r}')
    fresh_per_batch, uneven = divmod(batch_size, replay_ratio + 1)
    if uneven or fresh_per_batch % envs_per_actor:
      raise ValueError(
          f'batch_size={batch_size} must be a multiple of (replay_ratio + 1) * '
          f'envs_per_actor = {(replay_ratio + 1) * envs_per_actor}: each batch takes '
          f'batch_size / (replay_ratio + 1) fresh unrolls, whole actor unrolls of '
          f'envs_per_actor={envs_per_actor}')
    if replay_ratio and (not isinstance(replay_capacity, int) or replay_capacity < 1):
      raise ValueError(
          f'replay_capacity must be a positive integer, got {replay_capacity!r}')
    self.agent, self.make_env, self.spec, self.learner = agent, make_env, spec, learner
    self.num_actors, self.envs_per_actor = num_actors, envs_per_actor
    self.batch_size, self.unroll_length = batch_size, unroll_length
    self.queue_capacity, self.seed = queue_capacity, seed
    self.replay_ratio, self.replay_capacity = replay_ratio, replay_capacity
    self.unrolls_per_batch = fresh_per_batch // envs_per_actor
    self.replayed_per_batch = batch_size - fresh_per_batch
    # Fresh agent steps each update consumes; frames = × frames_per_step.
    self.steps_per_update = fresh_per_batch * unroll_length
    if learner_mesh is not None:
      parallel.check_divisible(batch_size, learner_mesh, 'batch_size')
    self.learner_mesh = learner_mesh
    self.policy_step = agent.step  # jitted by the actors' rollouts
    self.update = jax.jit(self._update)

  def init(self, key) -> learner_lib.LearnerState:
    example = jnp.zeros((1,) + tuple(self.spec.observation_shape), self.spec.observation_dtype)
    return self.place_state(self.learner.init(self.agent.init(key, example)))

  def place_state(self, state: learner_lib.LearnerState) -> learner_lib.LearnerState:
    """Replicates the learner state over the learner mesh (a no-op without one)."""
    if self.learner_mesh is None:
      return state
    return jax.device_put(state, parallel.replicated(self.learner_mesh))

  def put_batch(self, batch: types.Trajectory) -> types.Trajectory:
    """Moves a host batch to the learner's devices, split along the batch axis."""
    if self.learner_mesh is None:
      return jax.device_put(batch)
    time_major = jax.sharding.NamedSharding(
        self.learner_mesh, jax.sharding.PartitionSpec(None, parallel.DATA_AXIS))
    batch_major = parallel.batch_sharded(self.learner_mesh)
    shardings = batch._replace(**{
        field: jax.tree.map(lambda _: time_major, getattr(batch, field))
        for field in batch._fields if field != 'agent_state'})
    shardings = shardings._replace(
        agent_state=jax.tree.map(lambda _: batch_major, batch.agent_state))
    return jax.device_put(batch, shardings)

  def actor_params(self, params):
    """A single-device view of (replicated) parameters for the actors' inference."""
    if self.learner_mesh is None:
      return params
    return jax.tree.map(lambda x: x.addressable_shards[0].data, params)

  def _update(self, state: learner_lib.LearnerState, trajectory: types.Trajectory):
    key = jax.random.fold_in(jax.random.PRNGKey(self.seed), state.update)
    return self.learner.step(state, trajectory, key)

  def start(self, state: learner_lib.LearnerState) -> Session:
    return Session(self, state)
