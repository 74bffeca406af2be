"""Tests of the actor-critic agent: the V-trace loss against an independent computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.actor_critic import agent as agent_lib
from agents.actor_critic import config_checks as checks
from agents.actor_critic import loss as loss_lib
from agents.actor_critic import policies
from configs import actor_critic as configs
from core import config as config_lib
from core import env as env_lib
from core import types
from envs import cue_memory
from envs import registry

T, B = 5, 3


def _numpy_vtrace(log_rhos, discounts, rewards, values, bootstrap, valid):
  """The paper's recursion with ρ̄ = c̄ = ρ̄_pg = 1, λ = 1, in float64 numpy; a reset step
  (``valid`` False) has ρ = c = 0, so its target is its own value."""
  rhos = np.minimum(1.0, np.exp(log_rhos)) * valid
  values_tp1 = np.concatenate([values[1:], bootstrap[None]])
  vs = np.zeros_like(values)
  acc = np.zeros_like(bootstrap)
  for t in reversed(range(len(values))):
    delta = rhos[t] * (rewards[t] + discounts[t] * values_tp1[t] - values[t])
    acc = delta + discounts[t] * rhos[t] * acc
    vs[t] = values[t] + acc
  vs_tp1 = np.concatenate([vs[1:], bootstrap[None]])
  pg_adv = rhos * (rewards + discounts * vs_tp1 - values)
  return vs, pg_adv


def _trajectory(spec, agent_state, key):
  """Row 1 terminates into x_3 (same-step reset); row 0 is truncated at x_2 (its final
  observation), so step 2 is a reset step and x_3 starts the next episode."""
  keys = jax.random.split(key, 6)
  obs = jax.random.normal(keys[0], (T + 1, B) + spec.observation_shape)
  first = jnp.zeros((T + 1, B), bool).at[0].set(True).at[3, 1].set(True).at[3, 0].set(True)
  last = jnp.zeros((T + 1, B), bool).at[3, 1].set(True).at[2, 0].set(True)
  return types.Trajectory(
      observation=obs,
      first=first,
      last=last,
      action=jax.random.randint(keys[1], (T, B), 0, spec.num_actions),
      reward=jax.random.normal(keys[2], (T, B)).at[2, 0].set(0.0),
      discount=jnp.ones((T, B)).at[2, 1].set(0.0).at[2, 0].set(0.0),
      behaviour_extras=loss_lib.ActorExtras(
          policy=jax.random.normal(keys[3], (T, B, spec.num_actions)),
          prev_reward=jax.random.normal(keys[4], (T, B)) * (1 - first[:T]),
          prev_action=jax.random.randint(keys[5], (T, B), 0, spec.num_actions) * (1 - first[:T])),
      agent_state=agent_state)


def _check_loss_matches_numpy(core, prev_inputs=False):
  config = configs.get_config('cartpole').agent
  config.core = core
  config.lstm_prev_inputs = prev_inputs
  config.entropy_cost = 0.03
  spec = registry.make('cartpole').spec
  agent = agent_lib.make_agent(spec, config)
  network = agent_lib.make_network(spec, config)
  params = agent.init(jax.random.PRNGKey(1), jnp.zeros((B,) + spec.observation_shape))
  traj = _trajectory(spec, agent.initial_state(params, None, B), jax.random.PRNGKey(0))
  loss, metrics = jax.jit(agent.loss)(params, traj, jax.random.PRNGKey(2))

  out, _ = network.unroll(params, loss_lib.unroll_inputs(traj), traj.agent_state.core)
  logits = np.asarray(out.policy, np.float64)
  values = np.asarray(out.value, np.float64)
  log_pi = logits - np.log(np.sum(np.exp(logits), -1, keepdims=True))
  mu = np.asarray(traj.behaviour_extras.policy, np.float64)
  log_mu = mu - np.log(np.sum(np.exp(mu), -1, keepdims=True))
  a = np.asarray(traj.action)
  pick = lambda lp: np.take_along_axis(lp[:T], a[..., None], -1)[..., 0]
  log_rhos = pick(log_pi) - pick(log_mu)
  discounts = np.asarray(traj.discount) * config.discount
  valid = np.ones((T, B))
  valid[2, 0] = 0.0  # the reset step after row 0's truncation
  vs, pg_adv = _numpy_vtrace(log_rhos, discounts, np.asarray(traj.reward), values[:T],
                             values[T], valid)
  # At the reset step the target is the final observation's own value, which step 1
  # then bootstraps from (discount 1 into a truncation).
  np.testing.assert_allclose(vs[2, 0], values[2, 0])
  entropy = -np.sum(np.exp(log_pi[:T]) * log_pi[:T], -1)
  expected = (-np.sum(pg_adv * pick(log_pi))
              + config.baseline_cost * 0.5 * np.sum(valid * (vs - values[:T]) ** 2)
              - config.entropy_cost * np.sum(valid * entropy))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(metrics['entropy'], entropy.mean(), rtol=1e-5)

  grads = jax.grad(lambda p: agent.loss(p, traj)[0])(params)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_feedforward_vtrace_loss_matches_independent_computation():
  _check_loss_matches_numpy('none')


def test_lstm_vtrace_loss_matches_independent_computation():
  _check_loss_matches_numpy('lstm')
  _check_loss_matches_numpy('lstm', prev_inputs=True)


def test_learner_recomputes_exactly_what_the_actor_computed():
  """Acting step by step and the learner's unroll agree across episode boundaries."""
  config = configs.get_config('cartpole,lstm').agent
  config.lstm_prev_inputs = True
  env = env_lib.batched(env_lib.auto_reset(cue_memory.make(num_cues=2, delay=1)), B)
  agent = agent_lib.make_agent(env.spec, config)
  env_state, timestep = env.reset(jax.random.PRNGKey(0))
  params = agent.init(jax.random.PRNGKey(1), timestep.observation)
  state = agent.initial_state(params, None, B)
  # Run a while first so the unroll starts mid-episode with a nonzero state.
  records = []
  for t in range(2 + 3 * T):
    if t == 2:
      start_state, records = state, []
    action, extras, state = agent.step(params, jax.random.PRNGKey(t), timestep, state)
    env_state, next_timestep = env.step(env_state, action)
    records.append((timestep, action, extras, next_timestep))
    timestep = next_timestep
  stack = lambda xs: jax.tree.map(lambda *x: jnp.stack(x), *xs)
  steps, actions, extras, nexts = (stack(r) for r in zip(*records))
  traj = types.Trajectory(
      observation=jnp.concatenate([steps.observation, timestep.observation[None]]),
      first=jnp.concatenate([steps.first, timestep.first[None]]),
      last=jnp.concatenate([steps.last, timestep.last[None]]),
      action=actions, reward=nexts.reward,
      discount=types.transition_discount(nexts), behaviour_extras=extras,
      agent_state=start_state)
  assert bool(jnp.any(traj.first[1:]))  # the unroll crosses episode boundaries
  network = agent_lib.make_network(env.spec, config)
  out, _ = network.unroll(params, loss_lib.unroll_inputs(traj), start_state.core)
  np.testing.assert_allclose(out.policy[:-1], extras.policy, atol=1e-5)
  _, metrics = agent.loss(params, traj)
  np.testing.assert_allclose(metrics['mean_rho'], 1.0, atol=1e-5)


def test_lstm_step_resets_state_at_episode_start():
  config = configs.get_config('cartpole,lstm').agent
  spec = registry.make('cartpole').spec
  agent = agent_lib.make_agent(spec, config)
  obs = jnp.ones((2, 4))
  params = agent.init(jax.random.PRNGKey(0), obs)
  fresh_state = agent.initial_state(params, None, 2)
  state = fresh_state._replace(core=jax.tree.map(lambda z: z + 1.0, fresh_state.core))
  ts = types.TimeStep(obs, jnp.zeros(2), jnp.ones(2), jnp.array([True, False]),
                      jnp.zeros(2, bool))
  _, extras, _ = agent.step(params, jax.random.PRNGKey(1), ts, state)
  _, fresh, _ = agent.step(params, jax.random.PRNGKey(1), ts, fresh_state)
  np.testing.assert_allclose(extras.policy[0], fresh.policy[0], atol=1e-6)
  assert not np.allclose(extras.policy[1], fresh.policy[1])


def _fixed_output_network(logits, values):
  """A network whose unroll returns the given logits and values (held in params)."""
  from agents.actor_critic import network as network_lib  # pylint: disable=import-outside-toplevel
  unroll = lambda params, inputs, state: (
      network_lib.NetOutput(params['logits'], params['value']), state)
  return network_lib.Network(init=None, initial_state=None, unroll=unroll, step=None), {
      'logits': jnp.asarray(logits), 'value': jnp.asarray(values)}


def test_nstep_loss_targets_are_the_segment_returns():
  """A3C: each step's value target is its longest n-step return in the segment
  (0 past a termination, the bootstrap V(x_T) otherwise), written out by hand."""
  T, gamma = 4, 0.9
  values = np.array([[0.5], [1.0], [-1.0], [2.0], [3.0]], np.float32)  # V(x_0..x_4)
  rewards = np.array([[1.0], [0.0], [2.0], [1.0]], np.float32)
  discount = np.array([[1.0], [0.0], [1.0], [1.0]], np.float32)  # x_1 -> x_2 terminates
  network, params = _fixed_output_network(np.zeros((T + 1, 1, 2), np.float32), values)
  loss = loss_lib.make_nstep_loss(network, policy=policies.categorical(2), discount=gamma,
                                  baseline_cost=1.0, entropy_cost=0.0)
  zeros = np.zeros((T, 1), np.float32)
  trajectory = types.Trajectory(
      observation=np.zeros((T + 1, 1, 1), np.float32), first=np.zeros((T + 1, 1), bool),
      last=np.zeros((T + 1, 1), bool), action=np.zeros((T, 1), np.int32), reward=rewards,
      discount=discount,
      behaviour_extras=loss_lib.ActorExtras(np.zeros((T, 1, 2), np.float32), zeros,
                                            zeros.astype(np.int32)),
      agent_state=agent_lib.AgentState((), np.zeros((1,), np.int32)))
  # G_3 = r_3 + γ V(x_4); G_2 = r_2 + γ G_3; G_1 = r_1 (terminates); G_0 = r_0 + γ G_1.
  g3 = 1.0 + gamma * 3.0
  g2 = 2.0 + gamma * g3
  g1 = 0.0
  g0 = 1.0 + gamma * g1
  expected = np.array([g0, g1, g2, g3])
  # With baseline cost 1 the loss's gradient in V(x_t) is V(x_t) − G_t (the policy term
  # holds its advantage fixed and the logits are uniform).
  grads = jax.grad(lambda p: loss(p, trajectory)[0])(params)
  targets = values[:T, 0] - np.asarray(grads['value'])[:T, 0]
  np.testing.assert_allclose(targets, expected, rtol=1e-6)
  assert float(grads['value'][T, 0]) == 0.0  # the bootstrap value gets no gradient
  _, metrics = loss(params, trajectory)
  advantages = expected - values[:T, 0]
  np.testing.assert_allclose(metrics['pg_loss'], np.log(2.0) * advantages.sum(), rtol=1e-5)


def test_mode_acting_takes_the_most_likely_action_whatever_the_key():
  """``act='mode'`` plays the argmax action (the greedy score); 'sample' draws from the
  policy, so different keys give different actions."""
  config = configs.get_config('cartpole').agent
  env = env_lib.batched(env_lib.auto_reset(cue_memory.make(num_cues=4, delay=1)), 64)
  _, timestep = env.reset(jax.random.PRNGKey(0))
  sampled = agent_lib.make_agent(env.spec, config)
  params = sampled.init(jax.random.PRNGKey(1), timestep.observation)
  state = sampled.initial_state(params, None, 64)
  config.act = 'mode'
  greedy = agent_lib.make_agent(env.spec, config)
  outs = [greedy.step(params, jax.random.PRNGKey(k), timestep, state) for k in (2, 3)]
  np.testing.assert_array_equal(outs[0].action, outs[1].action)
  np.testing.assert_array_equal(outs[0].action, jnp.argmax(outs[0].extras.policy, axis=-1))
  draws = [sampled.step(params, jax.random.PRNGKey(k), timestep, state).action
           for k in (2, 3)]
  assert bool(jnp.any(draws[0] != draws[1]))


def test_policy_modes_are_the_argmax_and_the_gaussian_mean():
  logits = jnp.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])
  np.testing.assert_array_equal(policies.categorical(3).mode(logits), [1, 0])
  params = policies.GaussianParams(jnp.array([[0.5, -2.0]]), jnp.array([[1.0, 4.0]]))
  np.testing.assert_array_equal(policies.gaussian(2).mode(params), [[0.5, -2.0]])


def test_an_unknown_act_is_refused_naming_the_field():
  config = configs.get_config('cartpole')
  config.agent.act = 'argmax'
  with pytest.raises(config_lib.ConfigError, match=r"agent\.act: expected one of \['mode', "
                                                      r"'sample'\]"):
    checks.validate(config)
