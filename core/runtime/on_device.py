"""The on-device runtime: environment and agent both in JAX, one compiled training step.

Acting (``vmap`` over environments, ``scan`` over time) and learning (one gradient step on
the resulting trajectory) are fused into a single jitted program, optionally repeated
``updates_per_call`` times in a ``scan`` to amortise dispatch. With a device mesh the
environments, their time steps and the recurrent states are sharded over the ``data``
axis and parameters are replicated; XLA all-reduces the gradients.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from core import agent as agent_lib
from core import env as env_lib
from core import learner as learner_lib
from core import parallel
from core import types

# TrainState fields that hold one row per environment (sharded over the mesh).
PER_ENV_FIELDS = ('env_state', 'timestep', 'agent_state', 'episode_return', 'episode_length')


class TrainState(NamedTuple):
  """Everything a run needs to continue exactly where it stopped (checkpointed whole)."""
  learner: learner_lib.LearnerState  # params, optimiser state, update count
  env_state: Any
  timestep: types.TimeStep       # [B] the time step the agent acts on next
  agent_state: Any               # [B, ...] recurrent state before that time step
  episode_return: jax.Array      # [B] return so far in the running episodes
  episode_length: jax.Array      # [B] int32 steps so far in the running episodes
  key: jax.Array


class EvalResult(NamedTuple):
  episode_return: jax.Array  # [N] return of each evaluation episode
  completed: jax.Array       # [N] bool: the episode ended within the step limit


class Runtime(NamedTuple):
  """Pure (jitted) functions of an on-device training run.

  Attributes:
    init: ``(key) -> TrainState``.
    update: ``(TrainState) -> (TrainState, metrics)``; runs ``updates_per_call`` updates.
      Its argument is donated: do not use it afterwards.
    evaluate: ``(params, key) -> EvalResult`` over fresh episodes.
    state_sharding: the sharding of each TrainState leaf (None without a mesh).
    frames_per_update: environment steps consumed by one update.
    updates_per_call: updates per call of ``update``.
  """
  init: Callable[[jax.Array], TrainState]
  update: Callable[[TrainState], tuple[TrainState, dict]]
  evaluate: Callable[[Any, jax.Array], EvalResult]
  state_sharding: Any
  frames_per_update: int
  updates_per_call: int


def _trajectory(records, last_timestep, initial_agent_state) -> types.Trajectory:
  append = lambda xs, x: jnp.concatenate([xs, x[None]])
  return types.Trajectory(
      observation=jax.tree.map(append, records['observation'], last_timestep.observation),
      first=append(records['first'], last_timestep.first),
      last=append(records['last'], last_timestep.last),
      action=records['action'],
      reward=records['reward'],
      discount=records['discount'],
      behaviour_extras=records['extras'],
      agent_state=initial_agent_state)


def make(agent: agent_lib.Agent,
         env: env_lib.Environment,
         learner: learner_lib.Learner,
         *,
         num_envs: int,
         unroll_length: int,
         updates_per_call: int = 1,
         num_eval_episodes: int = 32,
         eval_max_steps: int | None = None,
         mesh: jax.sharding.Mesh | None = None) -> Runtime:
  """Builds the on-device runtime.

  Args:
    agent: the agent's pure functions.
    env: one unbatched JAX environment (it is auto-reset and batched here).
    learner: the learner step (``core.learner``; by default from ``agent.loss``).
    num_envs: environments stepped in parallel (the batch B).
    unroll_length: time steps T per trajectory.
    updates_per_call: updates fused into one call of ``update``.
    num_eval_episodes: episodes played by ``evaluate``.
    eval_max_steps: step limit of ``evaluate`` (default: the env's episode limit, or
      10,000).
    mesh: shard environments over this mesh's ``data`` axis.
  """
  for name, value in (('num_envs', num_envs), ('unroll_length', unroll_length),
                      ('updates_per_call', updates_per_call),
                      ('num_eval_episodes', num_eval_episodes)):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f'{name} must be a positive integer, got {value!r}')
  if mesh is not None:
    parallel.check_divisible(num_envs, mesh, 'num_envs')
  train_env = env_lib.batched(env_lib.auto_reset(env), num_envs)

  def init(key):
    env_key, params_key, state_key, key = jax.random.split(key, 4)
    env_state, timestep = train_env.reset(env_key)
    params = agent.init(params_key, timestep.observation)
    return TrainState(
        learner=learner.init(params),
        env_state=env_state,
        timestep=timestep,
        agent_state=agent.initial_state(params, state_key, num_envs),
        episode_return=jnp.zeros((num_envs,), jnp.float32),
        episode_length=jnp.zeros((num_envs,), jnp.int32),
        key=key)

  def act(params, carry, key):
    env_state, timestep, agent_state, episode_return, episode_length = carry
    out = agent.step(params, key, timestep, agent_state)
    env_state, next_timestep = train_env.step(env_state, out.action)
    # A reset step (at a truncated episode's final observation) is no agent step.
    acted = jnp.logical_not(jnp.logical_and(timestep.last, jnp.logical_not(timestep.first)))
    episode_return = episode_return + next_timestep.reward
    episode_length = episode_length + acted.astype(jnp.int32)
    done = next_timestep.last
    record = {
        'observation': timestep.observation,
        'first': timestep.first,
        'last': timestep.last,
        'action': out.action,
        'reward': next_timestep.reward,
        'discount': types.transition_discount(next_timestep),
        'extras': out.extras,
        'done': done,
        'completed_return': jnp.where(done, episode_return, 0.0),
        'completed_length': jnp.where(done, episode_length, 0),
    }
    carry = (env_state, next_timestep, out.state,
             jnp.where(done, 0.0, episode_return), jnp.where(done, 0, episode_length))
    return carry, record

  def one_update(state: TrainState, _):
    key, act_key, learn_key = jax.random.split(state.key, 3)
    params = state.learner.params
    carry = (state.env_state, state.timestep, state.agent_state, state.episode_return,
             state.episode_length)
    carry, records = jax.lax.scan(
        lambda c, k: act(params, c, k), carry, jax.random.split(act_key, unroll_length))
    env_state, timestep, agent_state, episode_return, episode_length = carry
    trajectory = _trajectory(records, timestep, state.agent_state)
    learner_state, metrics = learner.step(state.learner, trajectory, learn_key)
    episodes = {
        'episodes': jnp.sum(records['done']),
        'return_sum': jnp.sum(records['completed_return']),
        'length_sum': jnp.sum(records['completed_length']),
    }
    new_state = TrainState(learner_state, env_state, timestep, agent_state,
                           episode_return, episode_length, key)
    return new_state, (metrics, episodes)

  def update(state: TrainState):
    state, (metrics, episodes) = jax.lax.scan(one_update, state, length=updates_per_call)
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics.update(jax.tree.map(jnp.sum, episodes))
    return state, metrics

  eval_env = env_lib.batched(env, num_eval_episodes)
  max_steps = eval_max_steps or env.spec.max_episode_steps or 10_000

  def evaluate(params, key) -> EvalResult:
    reset_key, state_key, key = jax.random.split(key, 3)
    env_state, timestep = eval_env.reset(reset_key)

    def cond(carry):
      step, _, _, _, done, _, _ = carry
      return jnp.logical_and(step < max_steps, jnp.logical_not(jnp.all(done)))

    def body(carry):
      step, env_state, timestep, agent_state, done, total, key = carry
      key, act_key = jax.random.split(key)
      out = agent.step(params, act_key, timestep, agent_state)
      env_state, timestep = eval_env.step(env_state, out.action)
      agent_state = out.state
      total = total + jnp.where(done, 0.0, timestep.reward)
      done = jnp.logical_or(done, timestep.last)
      return step + 1, env_state, timestep, agent_state, done, total, key

    carry = (jnp.zeros((), jnp.int32), env_state, timestep,
             agent.initial_state(params, state_key, num_eval_episodes),
             jnp.zeros((num_eval_episodes,), bool),
             jnp.zeros((num_eval_episodes,), jnp.float32), key)
    _, _, _, _, done, total, _ = jax.lax.while_loop(cond, body, carry)
    return EvalResult(episode_return=total, completed=done)

  state_sharding = None
  if mesh is not None:
    abstract = jax.eval_shape(init, jax.random.PRNGKey(0))
    replicated = parallel.replicated(mesh)
    sharded = parallel.batch_sharded(mesh)
    state_sharding = TrainState(**{
        field: jax.tree.map(lambda _, f=field: sharded if f in PER_ENV_FIELDS else replicated,
                            getattr(abstract, field))
        for field in TrainState._fields})
  init_fn, update_fn = parallel.jit_train_step(init, update, state_sharding)
  return Runtime(
      init=init_fn,
      update=update_fn,
      evaluate=jax.jit(evaluate),
      state_sharding=state_sharding,
      frames_per_update=num_envs * unroll_length,
      updates_per_call=updates_per_call)
