"""Tests of the asynchronous Q-learning agents (one-step Q, one-step Sarsa, n-step Q):
targets against hand-computed values, the ε-greedy schedule, the target network, and a
small learning check on a corridor."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from agents import registry
from agents.q_learning import agent as agent_lib
from agents.q_learning import config_checks
from agents.q_learning import loss as loss_lib
from core import config as config_lib
from core import env as env_lib
from core import types

SPEC = env_lib.EnvSpec(observation_shape=(4,), observation_dtype=jnp.float32, num_actions=3)


def _config(**overrides) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(dict(
      name='q_learning', algorithm='q1', torso='mlp', hidden_sizes=(16,),
      activation='tanh', conv_implementation='auto', discount=0.9, reward_clip=0.0,
      target_update_period=3, epsilon_anneal_steps=100,
      epsilon_finals=(0.1, 0.01, 0.5), epsilon_probs=(0.4, 0.3, 0.3)))
  config.update(overrides)
  return config


# ---------------------------------------------------------------------------------------
# Targets on small arrays.

# [T=2, B=2, A=2]
Q_TM1 = np.array([[[1., 2.], [3., 0.]], [[.5, .5], [1., -1.]]], np.float32)
A_TM1 = np.array([[1, 0], [0, 1]], np.int32)
R_T = np.array([[1., -1.], [0., 2.]], np.float32)
DISCOUNT_T = np.array([[.9, .9], [0., .9]], np.float32)  # γ d_t; step (1, 0) terminates
Q_T = np.array([[[2., 5.], [1., 3.]], [[4., 4.], [-2., -3.]]], np.float32)


def test_one_step_q_td_errors_by_hand():
  td = loss_lib.q_learning_td_errors(Q_TM1, A_TM1, R_T, DISCOUNT_T, Q_T)
  expected = [[1 + .9 * 5 - 2, -1 + .9 * 3 - 3],
              [0 + 0 * 4 - .5, 2 + .9 * -2 - -1]]
  np.testing.assert_allclose(td, expected, rtol=1e-6)


def test_sarsa_td_errors_by_hand():
  a_t = np.array([[0, 1], [1, 0]], np.int32)
  td = loss_lib.sarsa_td_errors(Q_TM1, A_TM1, R_T, DISCOUNT_T, Q_T, a_t)
  expected = [[1 + .9 * 2 - 2, -1 + .9 * 3 - 3],
              [0 + 0 * 4 - .5, 2 + .9 * -2 - -1]]
  np.testing.assert_allclose(td, expected, rtol=1e-6)


def test_n_step_q_targets_by_hand_with_termination_and_reset_step():
  """Column 0 runs through the segment; column 1 terminates at step 1 (into x_2, a new
  episode's first), is truncated at x_3 (its final observation), and step 3 is the reset
  step (masked). Values marked 100 must not enter any target."""
  gamma = 0.5
  rewards = np.array([[1., 1.], [2., 2.], [3., 3.], [4., 0.]], np.float32)
  d = np.array([[1., 1.], [1., 0.], [1., 1.], [1., 0.]], np.float32)
  max_q = np.array([[100., 100.], [100., 100.], [100., 6.], [8., 100.]], np.float32)
  # q-values over 2 actions whose max is max_q.
  q_t = np.stack([max_q - 1.0, max_q], axis=-1)
  mask = np.ones((4, 2), bool)
  mask[3, 1] = False
  targets = loss_lib.n_step_q_targets(rewards, gamma * d, q_t, mask=mask)
  # Column 0: G_3 = 4 + .5 * 8 = 8, G_2 = 3 + 4 = 7, G_1 = 2 + 3.5 = 5.5, G_0 = 3.75.
  np.testing.assert_allclose(targets[:, 0], [3.75, 5.5, 7.0, 8.0], rtol=1e-6)
  # Column 1: G_2 = 3 + .5 max Q⁻(x_3) = 6 (bootstraps from the truncated final
  # observation), G_1 = 2 (terminated), G_0 = 1 + .5 * 2 = 2.
  np.testing.assert_allclose(targets[:3, 1], [2.0, 2.0, 6.0], rtol=1e-6)

  q_tm1 = np.zeros((4, 2, 2), np.float32)
  q_tm1[..., 1] = 0.5
  actions = np.ones((4, 2), np.int32)
  td = loss_lib.n_step_q_td_errors(q_tm1, actions, rewards, gamma * d, q_t, mask=mask)
  np.testing.assert_allclose(td[mask], np.asarray(targets)[mask] - 0.5, rtol=1e-6)
  loss = loss_lib.td_loss(td, mask)
  np.testing.assert_allclose(loss, 0.5 * np.sum(np.square(np.asarray(td)[mask])), rtol=1e-6)


def test_n_step_q_equals_one_step_q_over_a_one_step_segment():
  td_n = loss_lib.n_step_q_td_errors(Q_TM1[:1], A_TM1[:1], R_T[:1], DISCOUNT_T[:1], Q_T[:1])
  td_1 = loss_lib.q_learning_td_errors(Q_TM1[:1], A_TM1[:1], R_T[:1], DISCOUNT_T[:1],
                                       Q_T[:1])
  np.testing.assert_allclose(td_n, td_1, rtol=1e-6)


def test_reward_clip():
  np.testing.assert_allclose(loss_lib.clip_rewards(np.array([-3., .5, 2.]), 1.0),
                             [-1., .5, 1.])
  np.testing.assert_allclose(loss_lib.clip_rewards(np.array([-3., 2.]), None), [-3., 2.])


# ---------------------------------------------------------------------------------------
# The agent's loss on a trajectory, against the network's q-values.

T, B = 4, 2


def _trajectory(key, steps=(0, 0), final_epsilon=(0.0, 0.0)):
  """Column 0 runs through; column 1 terminates into x_2 (same-step reset) and is
  truncated at x_3, so step 3 is its reset step."""
  keys = jax.random.split(key, 3)
  first = np.zeros((T + 1, B), bool)
  first[0] = True
  first[2, 1] = first[4, 1] = True
  last = np.zeros((T + 1, B), bool)
  last[2, 1] = last[3, 1] = True
  discount = np.ones((T, B), np.float32)
  discount[1, 1] = discount[3, 1] = 0.0
  return types.Trajectory(
      observation=jax.random.normal(keys[0], (T + 1, B) + SPEC.observation_shape),
      first=jnp.asarray(first), last=jnp.asarray(last),
      action=jax.random.randint(keys[1], (T, B), 0, SPEC.num_actions),
      reward=jax.random.normal(keys[2], (T, B)) * 3.0,
      discount=jnp.asarray(discount),
      behaviour_extras=agent_lib.ActorExtras(epsilon=jnp.full((T, B), 0.5)),
      agent_state=agent_lib.AgentState(jnp.asarray(final_epsilon, jnp.float32),
                                       jnp.asarray(steps, jnp.int32)))


def _expected_loss(network, params, target_params, trajectory, algorithm, gamma, clip,
                   last_action=None):
  """The loss written out in numpy from the network's q-values."""
  q = np.asarray(network.unroll(params, trajectory.observation), np.float64)
  q_target = np.asarray(network.unroll(target_params, trajectory.observation), np.float64)
  a = np.asarray(trajectory.action)
  r = np.clip(np.asarray(trajectory.reward), -clip, clip) if clip else np.asarray(
      trajectory.reward)
  d = gamma * np.asarray(trajectory.discount)
  valid = np.asarray(types.valid_steps(trajectory))
  q_a = np.take_along_axis(q[:-1], a[..., None], -1)[..., 0]
  if algorithm == 'q1':
    targets = r + d * q_target[1:].max(-1)
  elif algorithm == 'sarsa1':
    next_a = np.concatenate([a[1:], last_action[None]])
    targets = r + d * np.take_along_axis(q_target[1:], next_a[..., None], -1)[..., 0]
  else:
    targets = np.zeros((T, B))
    for b in range(B):
      g = q_target[T, b].max()
      for t in reversed(range(T)):
        if not valid[t, b]:
          g = q_target[t, b].max()  # the masked step's "return": its own max Q⁻
          continue
        g = r[t, b] + d[t, b] * g
        targets[t, b] = g
  return 0.5 * np.sum(np.where(valid, np.square(targets - q_a), 0.0))


@pytest.mark.parametrize('algorithm', ['q1', 'sarsa1', 'qn'])
def test_agent_loss_matches_numpy(algorithm):
  config = _config(algorithm=algorithm, reward_clip=1.0, epsilon_finals=(0.0,),
                   epsilon_probs=(1.0,), epsilon_anneal_steps=0)
  agent = agent_lib.make_agent(SPEC, config)
  network = agent_lib.make_network(SPEC, config)
  key = jax.random.PRNGKey(0)
  trajectory = _trajectory(key)
  params = agent.init(jax.random.PRNGKey(1), trajectory.observation[0])
  target_params = agent.init(jax.random.PRNGKey(2), trajectory.observation[0])
  learner = agent.make_learner(optax.sgd(0.1))
  state = learner.init(params)._replace(extra=agent_lib.TargetParams(target_params))
  _, metrics = learner.gradient(state, trajectory, key)
  # ε = 0: Sarsa's action at x_T is the greedy one of the acting parameters.
  last_action = np.asarray(network.apply(params, trajectory.observation[-1])).argmax(-1)
  expected = _expected_loss(network, params, target_params, trajectory, algorithm,
                            config.discount, 1.0, last_action)
  np.testing.assert_allclose(metrics['loss'], expected, rtol=1e-5)
  assert np.isfinite(metrics['grad_norm']) and metrics['grad_norm'] > 0
  np.testing.assert_allclose(metrics['epsilon'], 0.5)


def test_sarsa_draws_its_last_action_with_the_epsilon_at_the_last_observation():
  """The actor's state at the unroll start plus T steps gives ε at x_T: 0 once annealed
  (the draw is greedy whatever the key), near 1 before (the draw varies with the key)."""
  config = _config(algorithm='sarsa1', epsilon_finals=(0.0,), epsilon_probs=(1.0,),
                   epsilon_anneal_steps=10)
  agent = agent_lib.make_agent(SPEC, config)
  params = agent.init(jax.random.PRNGKey(1), jnp.zeros((1, 4)))
  learner = agent.make_learner(optax.sgd(0.1))
  state = learner.init(params)
  gradient = jax.jit(learner.gradient)

  def losses(steps):
    trajectory = _trajectory(jax.random.PRNGKey(0), steps=(steps, steps))
    return {float(gradient(state, trajectory, jax.random.PRNGKey(k))[1]['loss'])
            for k in range(40)}

  assert len(losses(10 - T)) == 1     # ε(x_T) = 0: greedy
  assert len(losses(0)) > 1           # ε(x_T) = 1 − T/10 = 0.6


# ---------------------------------------------------------------------------------------
# ε-greedy acting.

def test_epsilon_schedule_is_linear_from_one_to_the_final_value():
  final = jnp.array([0.1, 0.01, 0.5])
  sched = lambda s: np.asarray(agent_lib.epsilon_schedule(jnp.full((3,), s), final, 100))
  np.testing.assert_allclose(sched(0), [1.0, 1.0, 1.0])
  np.testing.assert_allclose(sched(50), 1.0 + 0.5 * (np.asarray(final) - 1.0), rtol=1e-6)
  np.testing.assert_allclose(sched(25), 1.0 + 0.25 * (np.asarray(final) - 1.0), rtol=1e-6)
  np.testing.assert_allclose(sched(100), final, rtol=1e-6)
  np.testing.assert_allclose(sched(10_000), final, rtol=1e-6)
  np.testing.assert_allclose(agent_lib.epsilon_schedule(jnp.zeros(3), final, 0), final)


def test_final_epsilons_follow_the_paper_distribution_per_key():
  agent = agent_lib.make_agent(SPEC, _config())
  # One draw per worker key (one environment each), as the workers do.
  keys = jax.random.split(jax.random.PRNGKey(0), 6000)
  finals = np.asarray(jax.vmap(lambda k: agent.initial_state(None, k, 1).final_epsilon)(keys))
  finals = finals.ravel()
  assert set(np.unique(finals).tolist()) <= {np.float32(0.1), np.float32(0.01),
                                             np.float32(0.5)}
  for value, prob in ((0.1, 0.4), (0.01, 0.3), (0.5, 0.3)):
    assert abs(np.mean(np.isclose(finals, value)) - prob) < 0.03, (value, prob)
  # Different workers (keys) draw different values; a batch draws one per environment.
  state = agent.initial_state(None, jax.random.PRNGKey(1), 64)
  assert state.final_epsilon.shape == (64,) and state.steps.shape == (64,)
  assert len(np.unique(np.asarray(state.final_epsilon))) > 1
  with pytest.raises(ValueError, match='key'):
    agent.initial_state(None, None, 2)


def test_step_anneals_epsilon_per_actor_and_ignores_episode_starts():
  config = _config(epsilon_anneal_steps=10)
  agent = agent_lib.make_agent(SPEC, config)
  params = agent.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))
  state = agent.initial_state(params, jax.random.PRNGKey(3), 5)
  final = np.asarray(state.final_epsilon)
  step = jax.jit(agent.step)
  for t in range(14):
    first = jnp.full((5,), t % 3 == 0)  # episode starts must not reset the schedule
    timestep = types.TimeStep(jnp.ones((5, 4)), jnp.zeros(5), jnp.ones(5), first, first)
    out = step(params, jax.random.PRNGKey(t), timestep, state)
    np.testing.assert_allclose(out.extras.epsilon, 1.0 + min(t / 10, 1.0) * (final - 1.0),
                               rtol=1e-6)
    np.testing.assert_array_equal(out.state.steps, t + 1)
    np.testing.assert_array_equal(out.state.final_epsilon, final)
    state = out.state


def test_actions_are_uniform_at_epsilon_one_and_greedy_at_zero():
  config = _config()
  params = agent_lib.make_agent(SPEC, config).init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))
  observation = jax.random.normal(jax.random.PRNGKey(1), (4000, 4))
  greedy = np.asarray(agent_lib.make_network(SPEC, config).apply(params, observation)
                      ).argmax(-1)
  timestep = types.TimeStep(observation, jnp.zeros(4000), jnp.ones(4000),
                            jnp.zeros(4000, bool), jnp.zeros(4000, bool))
  fresh = agent_lib.make_agent(SPEC, config)  # a fresh state: ε = 1
  out = fresh.step(params, jax.random.PRNGKey(2), timestep,
                   fresh.initial_state(params, jax.random.PRNGKey(3), 4000))
  counts = np.bincount(np.asarray(out.action), minlength=3) / 4000
  np.testing.assert_allclose(counts, 1 / 3, atol=0.04)
  evaluator = agent_lib.make_agent(SPEC, config, epsilon=0.0)
  out = evaluator.step(params, jax.random.PRNGKey(2), timestep,
                       evaluator.initial_state(params, jax.random.PRNGKey(3), 4000))
  np.testing.assert_array_equal(out.action, greedy)
  np.testing.assert_array_equal(out.extras.epsilon, 0.0)


# ---------------------------------------------------------------------------------------
# The learner and its target network.

@pytest.mark.parametrize('algorithm', ['q1', 'sarsa1', 'qn'])
def test_target_refreshes_every_period_and_step_is_apply_after_gradient(algorithm):
  period = 3
  agent = agent_lib.make_agent(SPEC, _config(algorithm=algorithm,
                                             target_update_period=period))
  trajectory = _trajectory(jax.random.PRNGKey(0))
  params = agent.init(jax.random.PRNGKey(1), trajectory.observation[0])
  learner = agent.make_learner(optax.sgd(0.05))
  state = learner.init(params)
  jax.tree.map(np.testing.assert_array_equal, state.extra.params, params)
  step, gradient, apply = map(jax.jit, (learner.step, learner.gradient, learner.apply))
  for u in range(1, 8):
    key = jax.random.PRNGKey(100 + u)
    stepped, _ = step(state, trajectory, key)
    split = apply(state, gradient(state, trajectory, key)[0])
    jax.tree.map(np.testing.assert_array_equal, stepped, split)
    assert int(stepped.update) == u
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: np.any(a != b), stepped.params,
                                         state.params))
    assert any(moved)
    expected_target = stepped.params if u % period == 0 else state.extra.params
    jax.tree.map(np.testing.assert_array_equal, stepped.extra.params, expected_target)
    state = stepped


@pytest.mark.parametrize('algorithm', ['q1', 'qn'])
def test_gradient_uses_the_target_parameters_of_the_state_it_is_given(algorithm):
  config = _config(algorithm=algorithm)
  agent = agent_lib.make_agent(SPEC, config)
  network = agent_lib.make_network(SPEC, config)
  trajectory = _trajectory(jax.random.PRNGKey(0))
  params = agent.init(jax.random.PRNGKey(1), trajectory.observation[0])
  other = agent.init(jax.random.PRNGKey(2), trajectory.observation[0])
  learner = agent.make_learner(optax.sgd(0.1))
  state = learner.init(params)
  stale = state._replace(extra=agent_lib.TargetParams(other))
  key = jax.random.PRNGKey(3)
  grads, _ = learner.gradient(state, trajectory, key)
  stale_grads, _ = learner.gradient(stale, trajectory, key)
  q_loss = loss_lib.make_loss(network.unroll, algorithm=algorithm, discount=config.discount)
  expected = jax.grad(lambda p: q_loss(p, other, trajectory, key)[0])(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               stale_grads, expected)
  assert not np.allclose(grads['head']['params']['kernel'],
                         stale_grads['head']['params']['kernel'])


# ---------------------------------------------------------------------------------------
# Config and registry.

def test_config_checks_name_the_bad_field():
  whole = ml_collections.ConfigDict({'agent': _config()})
  config_checks.validate(whole, 'agent')
  for field, value in (('algorithm', 'dqn'), ('target_update_period', 0),
                       ('epsilon_anneal_steps', -1), ('epsilon_finals', (0.1, 1.5)),
                       ('epsilon_probs', (0.5, 0.5)), ('epsilon_probs', (0.4, 0.3, 0.2)),
                       ('discount', 1.5), ('torso', 'lstm'), ('reward_clip', -1.0)):
    bad = ml_collections.ConfigDict({'agent': _config()})
    with bad.unlocked():
      bad.agent[field] = value
    with pytest.raises(config_lib.ConfigError, match=f'agent.{field}'):
      config_checks.validate(bad, 'agent')


def test_registry_builds_the_agent():
  family = registry.get('q_learning')
  agent = family.make_agent(SPEC, _config(algorithm='qn'))
  assert agent.make_learner is not None


# ---------------------------------------------------------------------------------------
# Learning: a corridor where walking right to the end pays 1.

_LENGTH, _LIMIT = 5, 30


class _Corridor:
  """``B`` corridors of ``_LENGTH`` cells (one-hot observations), actions 0 left, 1 right,
  2 stay. Reaching the last cell pays 1 and terminates (same-step reset); an episode of
  ``_LIMIT`` steps is truncated (its final observation kept, the next step a reset step)."""

  def __init__(self, batch):
    self.pos = np.zeros(batch, np.int32)
    self.t = np.zeros(batch, np.int32)
    self.pending = np.zeros(batch, bool)

  def _obs(self):
    return np.eye(_LENGTH, dtype=np.float32)[self.pos]

  def reset(self):
    n = len(self.pos)
    return types.TimeStep(self._obs(), np.zeros(n, np.float32), np.ones(n, np.float32),
                          np.ones(n, bool), np.zeros(n, bool))

  def step(self, action):
    n = len(self.pos)
    reward, discount = np.zeros(n, np.float32), np.ones(n, np.float32)
    first, last = self.pending.copy(), np.zeros(n, bool)
    moving = ~self.pending
    self.pos = np.where(self.pending, 0, np.clip(
        self.pos + np.select([action == 0, action == 1], [-1, 1], 0), 0, _LENGTH - 1))
    self.t = np.where(self.pending, 0, self.t + 1)
    self.pending[:] = False
    goal = moving & (self.pos == _LENGTH - 1)
    reward[goal], discount[goal], first[goal], last[goal] = 1.0, 0.0, True, True
    self.pos[goal], self.t[goal] = 0, 0
    truncated = moving & ~goal & (self.t >= _LIMIT)
    last[truncated], self.pending[truncated] = True, True
    return types.TimeStep(self._obs(), reward, discount, first, last)


_GAMMA = 0.9


def _train_corridor(algorithm, *, seed=0, updates=400, batch=8, unroll=5):
  """Trains on ``batch`` corridors; returns the q-values of every cell and the last
  metrics."""
  config = _config(algorithm=algorithm, discount=_GAMMA, hidden_sizes=(32,),
                   target_update_period=20, epsilon_anneal_steps=1000)
  spec = env_lib.EnvSpec((_LENGTH,), jnp.float32, 3)
  agent = agent_lib.make_agent(spec, config)
  env = _Corridor(batch)
  timestep = env.reset()
  init_key, state_key, key = jax.random.split(jax.random.PRNGKey(seed), 3)
  params = agent.init(init_key, timestep.observation)
  learner = agent.make_learner(optax.adam(3e-3))
  state = learner.init(params)
  agent_state = agent.initial_state(params, state_key, batch)
  act, learn = jax.jit(agent.step), jax.jit(learner.step)
  for u in range(updates):
    start_state = agent_state
    obs, firsts, lasts, actions, rewards, discounts, extras = [], [], [], [], [], [], []
    for _ in range(unroll):
      key, act_key = jax.random.split(key)
      out = act(state.params, act_key, timestep, agent_state)
      agent_state, action = out.state, np.asarray(out.action)
      nxt = env.step(action)
      obs.append(timestep.observation), firsts.append(timestep.first)
      lasts.append(timestep.last), actions.append(action), extras.append(out.extras)
      rewards.append(nxt.reward), discounts.append(types.transition_discount(nxt))
      timestep = nxt
    obs.append(timestep.observation), firsts.append(timestep.first)
    lasts.append(timestep.last)
    trajectory = types.Trajectory(
        np.stack(obs), np.stack(firsts), np.stack(lasts), np.stack(actions),
        np.stack(rewards), np.stack(discounts),
        jax.tree.map(lambda *x: np.stack(x), *extras), start_state)
    state, metrics = learn(state, trajectory, jax.random.fold_in(key, u))
  q = np.asarray(agent_lib.make_network(spec, config).apply(
      state.params, np.eye(_LENGTH, dtype=np.float32)))
  return q, metrics


@pytest.mark.parametrize('algorithm', ['q1', 'sarsa1', 'qn'])
def test_learns_to_walk_the_corridor(algorithm):
  q, metrics = _train_corridor(algorithm)
  assert np.isfinite(metrics['loss'])
  np.testing.assert_array_equal(q[:-1].argmax(-1), 1, err_msg=str(q))
  # Sarsa learns the ε-greedy policy's (lower) values; n-step Q's uncorrected returns
  # mix in some of them (seeds 0-5: within 0.09 of optimal); one-step Q finds the optimal
  # ones (within 0.01).
  if algorithm != 'sarsa1':
    optimal = _GAMMA ** np.arange(_LENGTH - 2, -1, -1)
    np.testing.assert_allclose(q[:-1, 1], optimal, atol=0.05 if algorithm == 'q1' else 0.15,
                               err_msg=str(q))
