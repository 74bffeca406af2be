"""Builds the asynchronous Q-learning ``Agent`` (one-step Q, one-step Sarsa, n-step Q) of
Mnih et al. 2016 (arXiv 1602.01783) from a config.

Acting is ε-greedy. As in the paper (Sec. 5.1 and the supplementary's Sec. 8), each
actor-learner explores with its own final ε, drawn once from ``epsilon_finals`` =
(0.1, 0.01, 0.5) with ``epsilon_probs`` = (0.4, 0.3, 0.3), and anneals ε linearly from 1
to it over its first ``epsilon_anneal_steps`` environment steps. Workers differ by the key
they pass to ``initial_state``, so each draws its own. A worker that steps several
environments draws one final ε per environment: each environment's stream of experience
is one actor-learner's (with one environment per worker, as in the paper, it is exactly
one draw per worker). The draw and the step counter live in the agent state, which the
runtimes carry across episodes; neither resets when an episode starts.

Learning keeps a target network in ``LearnerState.extra`` (``TargetParams``): the
gradient reads it from the state it is given (a worker's local copy in the asynchronous
runtime) and ``apply`` copies the parameters into it every ``target_update_period``
updates, counted by the shared update counter, as the paper's ``I_target``.
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from agents.actor_critic import agent as actor_critic_agent
from agents.q_learning import loss as loss_lib
from core import agent as agent_lib
from core import env as env_lib
from core import learner as learner_lib
from core import types


class AgentState(NamedTuple):
  """The exploration state of each environment's actor, ``[B]`` leaves.

  Attributes:
    final_epsilon: float32, the ε the schedule anneals to (drawn once).
    steps: int32, environment steps taken so far (never reset at episode starts).
  """
  final_epsilon: jax.Array
  steps: jax.Array


class ActorExtras(NamedTuple):
  """What the behaviour policy records per step, ``[B]``."""
  epsilon: jax.Array  # the ε the action was drawn with


class TargetParams(NamedTuple):
  """``LearnerState.extra`` of the Q-learners: the target network's parameters θ⁻."""
  params: Any


class QNetwork(NamedTuple):
  """Pure functions of a feed-forward Q network.

  Attributes:
    init: ``(key, observation [B, ...]) -> params``.
    apply: ``(params, observation [N, ...]) -> q-values [N, A]``.
    unroll: ``(params, observation [T, B, ...]) -> q-values [T, B, A]``.
  """
  init: Any
  apply: Any
  unroll: Any


def make_network(spec: env_lib.EnvSpec, config: ml_collections.ConfigDict) -> QNetwork:
  """The torso ``config.torso`` names ('mlp', 'shallow', 'deep') and a linear Q head."""
  torso = actor_critic_agent.make_torso(config)
  head = nn.Dense(spec.num_actions, name='q')

  def init(key, observation):
    torso_key, head_key = jax.random.split(key)
    params = {'torso': torso.init(torso_key, observation)}
    params['head'] = head.init(head_key, torso.apply(params['torso'], observation))
    return params

  def apply(params, observation):
    return head.apply(params['head'], torso.apply(params['torso'], observation))

  def unroll(params, observation):
    lead = jax.tree.leaves(observation)[0].shape[:2]
    flat = jax.tree.map(lambda x: x.reshape((lead[0] * lead[1],) + x.shape[2:]), observation)
    q = apply(params, flat)
    return q.reshape(lead + q.shape[1:])

  return QNetwork(init=init, apply=apply, unroll=unroll)


def epsilon_schedule(steps: jax.Array, final_epsilon: jax.Array,
                     anneal_steps: int) -> jax.Array:
  """ε after ``steps`` environment steps: linear from 1 to ``final_epsilon`` over
  ``anneal_steps`` steps, then constant (``final_epsilon`` at once when it is 0)."""
  if anneal_steps <= 0:
    return jnp.asarray(final_epsilon, jnp.float32)
  fraction = jnp.minimum(jnp.asarray(steps, jnp.float32) / anneal_steps, 1.0)
  return 1.0 + fraction * (jnp.asarray(final_epsilon, jnp.float32) - 1.0)


def sample_final_epsilons(key: jax.Array, batch_size: int, finals, probs) -> jax.Array:
  """``[batch_size]`` final ε values drawn independently from ``finals`` with ``probs``."""
  return jax.random.choice(key, jnp.asarray(finals, jnp.float32), (batch_size,),
                           p=jnp.asarray(probs, jnp.float32))


def epsilon_greedy(key: jax.Array, q_values: jax.Array, epsilon: jax.Array) -> jax.Array:
  """``[B]`` int32 actions: uniform with probability ``epsilon[b]``, else ``argmax``.

  Written here rather than with ``rlax.epsilon_greedy``, whose ε is one scalar for the
  whole batch; each row here explores with its own.
  """
  explore_key, action_key = jax.random.split(key)
  batch_shape = q_values.shape[:-1]
  explore = jax.random.uniform(explore_key, batch_shape) < epsilon
  random_action = jax.random.randint(action_key, batch_shape, 0, q_values.shape[-1])
  return jnp.where(explore, random_action, jnp.argmax(q_values, axis=-1)).astype(jnp.int32)


def make_learner(loss, optimizer: optax.GradientTransformation,
                 target_update_period: int) -> learner_lib.Learner:
  """A split learner with a target network.

  Args:
    loss: ``(params, target_params, trajectory, key) -> (loss, metrics)``.
    optimizer: the optax optimiser.
    target_update_period: the target parameters become a copy of the parameters after
      every update whose number (``state.update`` after the step) is a multiple of it.

  ``gradient(state, batch, key)`` differentiates ``loss`` at ``state.params`` with the
  target parameters of ``state.extra`` (in the asynchronous runtime: the worker's local,
  possibly stale, copy of both). ``apply(state, grads)`` takes one optimiser step and
  refreshes the target when due; ``jnp.where`` keeps it one jittable program.
  """
  if target_update_period < 1:
    raise ValueError(f'target_update_period must be at least 1, got {target_update_period}')
  optimizer_step = learner_lib.optimizer_apply(optimizer)

  def init(params) -> learner_lib.LearnerState:
    return learner_lib.LearnerState(
        params, optimizer.init(params), jnp.zeros((), jnp.int32),
        TargetParams(jax.tree.map(jnp.array, params)))

  def gradient(state: learner_lib.LearnerState, batch, key):
    target_params = state.extra.params
    grads, metrics = jax.grad(
        lambda params: loss(params, target_params, batch, key), has_aux=True)(state.params)
    return grads, dict(metrics, grad_norm=optax.tree.norm(grads))

  def apply(state: learner_lib.LearnerState, grads) -> learner_lib.LearnerState:
    state = optimizer_step(state, grads)
    refresh = state.update % target_update_period == 0
    target = jax.tree.map(lambda p, t: jnp.where(refresh, p, t).astype(t.dtype),
                          state.params, state.extra.params)
    return state._replace(extra=TargetParams(target))

  return learner_lib.split_learner(init, gradient, apply)


def make_agent(spec: env_lib.EnvSpec, config: ml_collections.ConfigDict, *,
               epsilon: float | None = None) -> agent_lib.Agent:
  """The asynchronous Q-learning agent that ``config.algorithm`` names.

  Args:
    spec: the environment's interface.
    config: the ``agent`` config block. Reads ``algorithm`` ('q1', 'sarsa1', 'qn'),
      ``torso``, ``hidden_sizes``, ``activation``, ``conv_implementation``, ``discount``,
      ``reward_clip`` (0: none), ``target_update_period`` (updates),
      ``epsilon_anneal_steps`` (each actor's environment steps), ``epsilon_finals`` and
      ``epsilon_probs``.
    epsilon: a fixed ε for every step instead of the annealed per-actor one, e.g. 0 (or
      0.05) to evaluate a trained agent: a fresh ``initial_state`` otherwise starts the
      schedule at ε = 1, a uniformly random policy.

  The ``Agent.loss`` it returns has no target network (it bootstraps from the current
  parameters, without gradient); training goes through ``make_learner``, which runtimes
  take via ``core.learner.learner_for``.
  """
  if spec.action_shape:
    raise ValueError(f'the Q-learning agent needs discrete actions; this environment has '
                     f'continuous actions of shape {spec.action_shape}')
  network = make_network(spec, config)
  anneal_steps = int(config.epsilon_anneal_steps)
  finals, probs = tuple(config.epsilon_finals), tuple(config.epsilon_probs)

  def current_epsilon(state: AgentState) -> jax.Array:
    if epsilon is not None:
      return jnp.full(state.steps.shape, epsilon, jnp.float32)
    return epsilon_schedule(state.steps, state.final_epsilon, anneal_steps)

  def initial_state(params, key, batch_size):
    del params
    if key is None:
      raise ValueError('the Q-learning agent needs a key for initial_state: each actor '
                       'draws its final exploration ε from it')
    return AgentState(sample_final_epsilons(key, batch_size, finals, probs),
                      jnp.zeros((batch_size,), jnp.int32))

  def step(params, key, timestep: types.TimeStep, state: AgentState):
    # Exploration is per actor, not per episode: ``timestep.first`` resets nothing.
    eps = current_epsilon(state)
    action = epsilon_greedy(key, network.apply(params, timestep.observation), eps)
    return agent_lib.StepOutput(action, ActorExtras(eps),
                                state._replace(steps=state.steps + 1))

  def bootstrap_action(params, trajectory: types.Trajectory, key):
    """Sarsa's ``a_T``: an ε-greedy draw on the acting parameters at ``x_T`` with the ε
    the actor has there (its state at the unroll start, ``T`` steps on)."""
    if key is None:
      raise ValueError('sarsa1 needs a loss key: it draws the action at the last '
                       'observation of the unroll')
    start = jax.tree.map(jnp.asarray, trajectory.agent_state)
    num_steps = trajectory.reward.shape[0]
    q_last = network.apply(params, jax.tree.map(lambda x: x[-1], trajectory.observation))
    eps = current_epsilon(start._replace(steps=start.steps + num_steps))
    return epsilon_greedy(key, q_last, eps)

  q_loss = loss_lib.make_loss(
      network.unroll, algorithm=config.algorithm, discount=config.discount,
      reward_clip=config.reward_clip or None, bootstrap_action=bootstrap_action)

  def loss(params, trajectory, key=None):
    total, metrics = q_loss(params, jax.lax.stop_gradient(params), trajectory, key)
    return total, _with_epsilon(metrics, trajectory)

  def target_loss(params, target_params, trajectory, key=None):
    total, metrics = q_loss(params, target_params, trajectory, key)
    return total, _with_epsilon(metrics, trajectory)

  target_update_period = int(config.target_update_period)
  return agent_lib.Agent(
      init=network.init, initial_state=initial_state, step=step, loss=loss,
      make_learner=lambda optimizer: make_learner(target_loss, optimizer,
                                                  target_update_period))


def _with_epsilon(metrics: dict, trajectory: types.Trajectory) -> dict:
  """Adds the mean ε the unroll was acted with."""
  return dict(metrics, epsilon=jnp.mean(trajectory.behaviour_extras.epsilon))
