"""Acting in a host vector environment: unrolls of ``T`` steps with a jitted policy.

Both host runtimes act this way: the IMPALA actors (``core/runtime/actor_learner.py``)
and the asynchronous workers (``core/runtime/async_workers.py``). An unroll holds ``T + 1``
observations; the last one bootstraps and is also the first of the next unroll, so
consecutive unrolls tile the experience without gaps or repeats, across episode ends.
"""

import dataclasses
import functools
import threading
import time
from typing import Any, Callable

import jax
import numpy as np

from core import host_env
from core import types


@dataclasses.dataclass
class RolloutStats:
  """Counters an actor updates and a driver reads (under ``lock``)."""
  lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
  env_steps: int = 0
  queue_wait_s: float = 0.0
  inference_s: float = 0.0
  env_s: float = 0.0
  episode_returns: list = dataclasses.field(default_factory=list)
  episode_lengths: list = dataclasses.field(default_factory=list)

  def drain(self) -> dict:
    """Returns and resets the counters gathered since the last call."""
    with self.lock:
      out = dict(env_steps=self.env_steps, queue_wait_s=self.queue_wait_s,
                 inference_s=self.inference_s, env_s=self.env_s,
                 episode_returns=self.episode_returns, episode_lengths=self.episode_lengths)
      self.env_steps, self.queue_wait_s, self.inference_s, self.env_s = 0, 0.0, 0.0, 0.0
      self.episode_returns, self.episode_lengths = [], []
    return out


@functools.lru_cache(maxsize=None)
def _acting_step(policy_step: Callable) -> Callable:
  """``policy_step`` and the split of its key in one jitted call: on small networks the
  dispatch of each call, not the arithmetic, is what acting costs."""

  def act(params, key, timestep, state):
    key, step_key = jax.random.split(key)
    return key, policy_step(params, step_key, timestep, state)

  return jax.jit(act)


class HostRollout:
  """Steps one host vector environment with an agent's jitted ``step``.

  Args:
    env: the environment (owned by the caller, who closes it).
    policy_step: the agent's ``(params, key, timestep, state) -> core.agent.StepOutput``
      (jitted here, with the key's split).
    initial_state: the agent's ``(params, key, batch_size) -> state``.
    params: parameters for the initial recurrent state.
    seed: seeds the environment and the action keys.
    stats: where the counters go (a new ``RolloutStats`` by default).
  """

  def __init__(self, env: host_env.HostVectorEnv, policy_step: Callable,
               initial_state: Callable[[Any, Any, int], Any], params, *, seed: int,
               stats: RolloutStats | None = None):
    self._env, self._act = env, _acting_step(policy_step)
    self.stats = stats if stats is not None else RolloutStats()
    self._timestep = env.reset(seed).timestep
    self._key, state_key = jax.random.split(jax.random.PRNGKey(seed))
    self._state = initial_state(params, state_key, env.num_envs)

  def unroll(self, params, length: int) -> types.Trajectory:
    """The next ``length`` steps acted with ``params``, as a host (numpy) trajectory."""
    n, timestep, state = self._env.num_envs, self._timestep, self._state
    start_state = jax.device_get(state)
    observations, firsts, lasts, actions, rewards, discounts, extras = (
        [], [], [], [], [], [], [])
    for _ in range(length):
      t0 = time.monotonic()
      self._key, out = self._act(params, self._key, timestep, state)
      action, state = np.asarray(out.action), out.state
      t1 = time.monotonic()
      step = self._env.step(action)
      t2 = time.monotonic()
      observations.append(timestep.observation)
      firsts.append(timestep.first)
      lasts.append(timestep.last)
      actions.append(action)
      extras.append(out.extras)
      nxt = step.timestep
      rewards.append(nxt.reward)
      discounts.append(types.transition_discount(nxt))
      timestep = nxt
      ended = ~np.isnan(step.episode_return)
      with self.stats.lock:
        self.stats.env_steps += n
        self.stats.inference_s += t1 - t0
        self.stats.env_s += t2 - t1
        if ended.any():
          self.stats.episode_returns.extend(step.episode_return[ended].tolist())
          self.stats.episode_lengths.extend(step.episode_length[ended].tolist())
    observations.append(timestep.observation)
    firsts.append(timestep.first)
    lasts.append(timestep.last)
    self._timestep, self._state = timestep, state
    return types.Trajectory(
        observation=np.stack(observations),
        first=np.stack(firsts),
        last=np.stack(lasts),
        action=np.stack(actions),
        reward=np.stack(rewards).astype(np.float32),
        discount=np.stack(discounts).astype(np.float32),
        behaviour_extras=jax.tree.map(lambda *x: np.stack(x), *jax.device_get(extras)),
        agent_state=start_state)
