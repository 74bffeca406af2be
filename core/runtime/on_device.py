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
import optax

from core import agent as agent_lib
from core import parallel
from core import types
from envs import base

# TrainState fields that hold one row per environment (sharded over the mesh).
PER_ENV_FIELDS = ('env_state', 'timestep', 'agent_state', 'episode_return', 'episode_length')


class TrainState(NamedTuple):
  """Everything a run needs to continue exactly where it stopped (checkpointed whole)."""
  params: Any
  opt_state: Any
  env_state: Any
  timestep: types.TimeStep       # [B] the time step the agent acts on next
  agent_state: Any               # [B, ...] recurrent state before that time step
  episode_return: jax.Array      # [B] return so far in the running episodes
  episode_length: jax.Array      # [B] int32 steps so far in the running episodes
  key: jax.Array
  update: jax.Array              # int32 number of updates done


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
  observation = jax.tree.map(
      lambda xs, x: jnp.concatenate([xs, x[None]]), records['observation'],
      last_timestep.observation)
  return types.Trajectory(
      observation=observation,
      first=jnp.concatenate([records['first'], last_timestep.first[None]]),
      action=records['action'],
      reward=records['reward'],
      discount=records['discount'],
      behaviour_extras=records['extras'],
      agent_state=initial_agent_state)


def make(agent: agent_lib.Agent,
         env: base.Environment,
         optimizer: optax.GradientTransformation,
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
    optimizer: applied to the gradient of ``agent.loss``.
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
  train_env = base.batched(base.auto_reset(env), num_envs)

  def init(key):
    env_key, params_key, key = jax.random.split(key, 3)
    env_state, timestep = train_env.reset(env_key)
    params = agent.init(params_key, timestep.observation)
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        env_state=env_state,
        timestep=timestep,
        agent_state=agent.initial_state(num_envs),
        episode_return=jnp.zeros((num_envs,), jnp.float32),
        episode_length=jnp.zeros((num_envs,), jnp.int32),
        key=key,
        update=jnp.zeros((), jnp.int32))

  def act(params, carry, key):
    env_state, timestep, agent_state, episode_return, episode_length = carry
    action, extras, next_agent_state = agent.step(params, key, timestep, agent_state)
    env_state, next_timestep = train_env.step(env_state, action)
    episode_return = episode_return + next_timestep.reward
    episode_length = episode_length + 1
    done = next_timestep.last
    record = {
        'observation': timestep.observation,
        'first': timestep.first,
        'action': action,
        'reward': next_timestep.reward,
        # After an auto-reset there is no final state to bootstrap from (types.py).
        'discount': next_timestep.discount * (1.0 - done.astype(jnp.float32)),
        'extras': extras,
        'done': done,
        'completed_return': jnp.where(done, episode_return, 0.0),
        'completed_length': jnp.where(done, episode_length, 0),
    }
    carry = (env_state, next_timestep, next_agent_state,
             jnp.where(done, 0.0, episode_return), jnp.where(done, 0, episode_length))
    return carry, record

  def one_update(state: TrainState, _):
    key, act_key = jax.random.split(state.key)
    carry = (state.env_state, state.timestep, state.agent_state, state.episode_return,
             state.episode_length)
    carry, records = jax.lax.scan(
        lambda c, k: act(state.params, c, k), carry, jax.random.split(act_key, unroll_length))
    env_state, timestep, agent_state, episode_return, episode_length = carry
    trajectory = _trajectory(records, timestep, state.agent_state)
    grads, metrics = jax.grad(agent.loss, has_aux=True)(state.params, trajectory)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, grad_norm=optax.tree.norm(grads))
    episodes = {
        'episodes': jnp.sum(records['done']),
        'return_sum': jnp.sum(records['completed_return']),
        'length_sum': jnp.sum(records['completed_length']),
    }
    new_state = TrainState(params, opt_state, env_state, timestep, agent_state,
                           episode_return, episode_length, key, state.update + 1)
    return new_state, (metrics, episodes)

  def update(state: TrainState):
    state, (metrics, episodes) = jax.lax.scan(one_update, state, length=updates_per_call)
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics.update(jax.tree.map(jnp.sum, episodes))
    return state, metrics

  eval_env = base.batched(env, num_eval_episodes)
  max_steps = eval_max_steps or env.spec.max_episode_steps or 10_000

  def evaluate(params, key) -> EvalResult:
    reset_key, key = jax.random.split(key)
    env_state, timestep = eval_env.reset(reset_key)

    def cond(carry):
      step, _, _, _, done, _, _ = carry
      return jnp.logical_and(step < max_steps, jnp.logical_not(jnp.all(done)))

    def body(carry):
      step, env_state, timestep, agent_state, done, total, key = carry
      key, act_key = jax.random.split(key)
      action, _, agent_state = agent.step(params, act_key, timestep, agent_state)
      env_state, timestep = eval_env.step(env_state, action)
      total = total + jnp.where(done, 0.0, timestep.reward)
      done = jnp.logical_or(done, timestep.last)
      return step + 1, env_state, timestep, agent_state, done, total, key

    carry = (jnp.zeros((), jnp.int32), env_state, timestep,
             agent.initial_state(num_eval_episodes), jnp.zeros((num_eval_episodes,), bool),
             jnp.zeros((num_eval_episodes,), jnp.float32), key)
    _, _, _, _, done, total, _ = jax.lax.while_loop(cond, body, carry)
    return EvalResult(episode_return=total, completed=done)

  state_sharding = None
  if mesh is None:
    init_fn = jax.jit(init)
    update_fn = jax.jit(update, donate_argnums=0)
  else:
    abstract = jax.eval_shape(init, jax.random.PRNGKey(0))
    replicated = parallel.replicated(mesh)
    sharded = parallel.batch_sharded(mesh)
    state_sharding = TrainState(**{
        field: jax.tree.map(lambda _, f=field: sharded if f in PER_ENV_FIELDS else replicated,
                            getattr(abstract, field))
        for field in TrainState._fields})
    init_fn = jax.jit(init, out_shardings=state_sharding)
    update_fn = jax.jit(update, in_shardings=(state_sharding,),
                        out_shardings=(state_sharding, replicated), donate_argnums=0)
  return Runtime(
      init=init_fn,
      update=update_fn,
      evaluate=jax.jit(evaluate),
      state_sharding=state_sharding,
      frames_per_update=num_envs * unroll_length,
      updates_per_call=updates_per_call)
