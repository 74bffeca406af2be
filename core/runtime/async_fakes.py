"""Small, fast worker parts for testing the asynchronous runtime.

They live in the library, not in ``tests/``, because worker *processes* unpickle
``make_parts`` by module name, and test modules are not importable by name. Nothing here is
used by real runs.

  * ``CounterEnv``: a host vector env whose observation is a one-hot position on a ring;
    action 1 moves forward and pays 1, action 0 stays and pays 0; episodes are truncated
    after ``episode_steps``. Deterministic, so seeded runs repeat exactly.
  * A linear softmax policy with a REINFORCE-style loss.
  * A learner that also records, in ``LearnerState.extra``, which worker applied each
    update (``writers[u] = worker_id + 1``), so a test can see the order in which the
    workers' updates reached the shared state.
"""

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from core import agent as agent_lib
from core import env as env_lib
from core import host_env
from core import learner as learner_lib
from core import types
from core.runtime import async_workers

SIZE = 4


class CounterEnv:
  """``num_envs`` ring walks (see the module docstring); optionally fails on purpose."""
  frames_per_step = 1

  def __init__(self, num_envs: int = 1, episode_steps: int = 8,
               fail_after_steps: int | None = None, step_delay_s: float = 0.0):
    self.num_envs, self._episode_steps = num_envs, episode_steps
    self._fail_after, self._delay = fail_after_steps, step_delay_s
    self.spec = env_lib.EnvSpec((SIZE,), np.float32, 2, episode_steps)
    self._pos = np.zeros(num_envs, np.int64)
    self._t = np.zeros(num_envs, np.int64)
    self._return = np.zeros(num_envs, np.float32)
    self._pending_reset = np.zeros(num_envs, bool)
    self._steps = 0

  def _obs(self):
    return np.eye(SIZE, dtype=np.float32)[self._pos % SIZE]

  def reset(self, seed: int) -> host_env.HostStep:
    self._pos[:] = seed % SIZE
    self._t[:] = 0
    self._return[:] = 0
    self._pending_reset[:] = False
    n = self.num_envs
    timestep = types.TimeStep(self._obs(), np.zeros(n, np.float32), np.ones(n, np.float32),
                              np.ones(n, bool), np.zeros(n, bool))
    return host_env.HostStep(timestep, np.full(n, np.nan, np.float32), np.zeros(n, np.int32))

  def step(self, actions) -> host_env.HostStep:
    self._steps += 1
    if self._fail_after is not None and self._steps > self._fail_after:
      raise RuntimeError(f'CounterEnv failed on purpose at step {self._steps}')
    if self._delay:
      time.sleep(self._delay)
    reset = self._pending_reset.copy()
    actions = np.asarray(actions)
    reward = np.where(reset, 0.0, (actions == 1).astype(np.float32)).astype(np.float32)
    self._pos = np.where(reset, 0, self._pos + (actions == 1))
    self._t = np.where(reset, 0, self._t + 1)
    self._return = np.where(reset, 0.0, self._return + reward).astype(np.float32)
    ended = ~reset & (self._t >= self._episode_steps)
    episode_return = np.where(ended, self._return, np.nan).astype(np.float32)
    episode_length = np.where(ended, self._t, 0).astype(np.int32)
    self._pending_reset = ended
    timestep = types.TimeStep(self._obs(), reward, np.ones(self.num_envs, np.float32),
                              reset, ended)
    return host_env.HostStep(timestep, episode_return, episode_length)

  def close(self) -> None:
    pass


class Writers(NamedTuple):
  """``[capacity]`` int32: ``worker_id + 1`` of the worker that applied each update."""
  writers: jax.Array


def linear_agent() -> agent_lib.Agent:
  """A linear softmax policy; its loss is −Σ log π(a_t) · return-to-go in the unroll."""

  def init(key, observation):
    return {'w': 0.01 * jax.random.normal(key, (observation.shape[-1], 2))}

  def step(params, key, timestep, state):
    logits = jnp.asarray(timestep.observation) @ params['w']
    action = jax.random.categorical(key, logits).astype(jnp.int32)
    return agent_lib.StepOutput(action, (), state)

  def loss(params, trajectory, key):
    del key
    logits = trajectory.observation[:-1] @ params['w']
    log_pi = jax.nn.log_softmax(logits)
    log_pi_a = jnp.take_along_axis(log_pi, trajectory.action[..., None], -1)[..., 0]
    to_go = jnp.cumsum(trajectory.reward[::-1], axis=0)[::-1]
    value = -jnp.sum(jax.lax.stop_gradient(to_go) * log_pi_a * types.valid_steps(trajectory))
    return value, {'return_to_go': jnp.mean(to_go)}

  return agent_lib.Agent(init=init, initial_state=lambda params, key, batch_size: (),
                         step=step, loss=loss)


def recording_learner(agent: agent_lib.Agent, worker_id: int, capacity: int,
                      optimizer: optax.GradientTransformation) -> learner_lib.Learner:
  """The default learner of ``agent.loss`` that also writes ``worker_id + 1`` at
  ``extra.writers[update]`` when it applies an update."""
  base = learner_lib.make_learner(agent.loss, optimizer)

  def init(params):
    return base.init(params)._replace(extra=Writers(jnp.zeros((capacity,), jnp.int32)))

  def apply(state, grads):
    index = jnp.minimum(state.update, capacity - 1)
    writers = state.extra.writers.at[index].set(worker_id + 1)
    return base.apply(state, grads)._replace(extra=Writers(writers))

  return learner_lib.split_learner(init, base.gradient, apply)


def make_parts(worker_id: int, *, capacity: int, learning_rate: float = 0.1,
               fail_worker: int | None = None, fail_after_steps: int = 20,
               step_delay_s: float = 0.0) -> async_workers.WorkerParts:
  """``make_parts`` for ``AsyncWorkers`` (``functools.partial`` the keywords)."""
  env = CounterEnv(fail_after_steps=fail_after_steps if worker_id == fail_worker else None,
                   step_delay_s=step_delay_s)
  agent = linear_agent()
  optimizer = optax.rmsprop(learning_rate, decay=0.99, eps=0.1, eps_in_sqrt=True)
  return async_workers.WorkerParts(
      agent, recording_learner(agent, worker_id, capacity, optimizer), env)


def initial_state(capacity: int, seed: int = 0, learning_rate: float = 0.1):
  """The learner state the workers of ``make_parts`` share at the start."""
  parts = make_parts(0, capacity=capacity, learning_rate=learning_rate)
  params = parts.agent.init(jax.random.PRNGKey(seed), jnp.zeros((1, SIZE), jnp.float32))
  return jax.device_get(parts.learner.init(params))
