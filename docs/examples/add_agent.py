"""A new agent from the core's pieces: advantage actor-critic with n-step returns.

Run from the repository root: ``python docs/examples/add_agent.py`` (CPU, seconds).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from core import agent as agent_lib
from core import learner as learner_lib
from core import returns
from core import types
from core.runtime import on_device
from envs import registry


class PolicyValue(nn.Module):
  num_actions: int

  @nn.compact
  def __call__(self, observation):                    # [..., 4] -> [..., A], [...]
    h = nn.tanh(nn.Dense(64)(observation))
    h = nn.tanh(nn.Dense(64)(h))
    return nn.Dense(self.num_actions)(h), nn.Dense(1)(h)[..., 0]


def make_agent(spec, *, discount=0.99, n=5, baseline_cost=0.5, entropy_cost=0.01):
  net = PolicyValue(spec.num_actions)

  def step(params, key, timestep, state):             # one batched step, [B, ...]
    logits, _ = net.apply(params, timestep.observation)
    action = jax.random.categorical(key, logits).astype(jnp.int32)
    return agent_lib.StepOutput(action=action, extras=(), state=state)  # on-policy: no extras

  def loss(params, traj: types.Trajectory, key):
    del key
    logits, values = net.apply(params, traj.observation)   # [T + 1, B, A], [T + 1, B]
    valid = types.valid_steps(traj).astype(jnp.float32)    # [T, B]: 0 at reset steps
    v = jax.lax.stop_gradient(values)
    # The mask makes a reset step's return its own value, V(x_t), so the step before it
    # bootstraps from the truncated episode's final observation.
    targets = returns.n_step_returns(traj.reward, traj.discount * discount, v[1:], n=n,
                                     mask=valid > 0)
    advantages = targets - v[:-1]
    log_pi = jax.nn.log_softmax(logits[:-1])
    log_pi_a = jnp.take_along_axis(log_pi, traj.action[..., None], -1)[..., 0]
    entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, -1)
    count = jnp.maximum(valid.sum(), 1.0)
    pg_loss = -jnp.sum(valid * advantages * log_pi_a) / count
    baseline_loss = 0.5 * jnp.sum(valid * (targets - values[:-1]) ** 2) / count
    entropy_bonus = jnp.sum(valid * entropy) / count
    total = pg_loss + baseline_cost * baseline_loss - entropy_cost * entropy_bonus
    return total, {'loss': total, 'pg_loss': pg_loss, 'baseline_loss': baseline_loss}

  return agent_lib.Agent(
      init=net.init,                                   # (key, observation [B, 4]) -> params
      initial_state=lambda params, key, batch_size: (),  # feed-forward: no state
      step=step,
      loss=loss)


def main(num_calls: int = 5):
  env = registry.make('cartpole')
  agent = make_agent(env.spec)
  learner = learner_lib.make_learner(agent.loss, optax.adam(3e-3))
  runtime = on_device.make(agent, env, learner, num_envs=16, unroll_length=20,
                           updates_per_call=10, num_eval_episodes=8)
  state = runtime.init(jax.random.PRNGKey(0))
  for call in range(num_calls):
    state, metrics = runtime.update(state)             # 10 updates per call
    episode_return = metrics['return_sum'] / max(int(metrics['episodes']), 1)
    print(f'call {call}: loss {float(metrics["loss"]):.3f}, '
          f'mean episode return {float(episode_return):.1f}')
  assert jnp.isfinite(metrics['loss']), metrics
  assert int(state.learner.update) == num_calls * runtime.updates_per_call
  return state, metrics


if __name__ == '__main__':
  main()
