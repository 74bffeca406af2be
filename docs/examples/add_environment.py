"""A new JAX-native environment: a corridor with a time limit, its episode ends under
``core.env.auto_reset``, then the actor-critic agent trained on it.

Run from the repository root: ``python docs/examples/add_environment.py`` (CPU, seconds).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from agents.actor_critic import agent as actor_critic
from configs import actor_critic as configs
from core import env as env_lib
from core import learner as learner_lib
from core import types
from core.runtime import on_device


class CorridorState(NamedTuple):
  position: jax.Array  # int32 in [0, length]
  t: jax.Array         # int32 steps taken this episode


def make_corridor(length=5, max_episode_steps=8) -> env_lib.Environment:
  """Start at 0; action 1 steps right, 0 left. Reaching ``length`` terminates with reward
  1; after ``max_episode_steps`` steps the episode is truncated."""
  observe = lambda s: jax.nn.one_hot(s.position, length + 1)

  def reset(key):
    del key  # deterministic start
    state = CorridorState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    return state, env_lib.restart(observe(state))

  def step(state, action):
    position = jnp.clip(state.position + 2 * action - 1, 0, length).astype(jnp.int32)
    state = CorridorState(position, state.t + 1)
    terminated = position == length
    truncated = state.t >= max_episode_steps
    return state, env_lib.transition(observe(state), terminated.astype(jnp.float32),
                                     terminated, truncated)

  spec = env_lib.EnvSpec((length + 1,), jnp.float32, 2, max_episode_steps)
  return env_lib.Environment(reset, step, spec)


def main(num_calls: int = 5):
  env = make_corridor()
  batch = env_lib.batched(env_lib.auto_reset(env), 2)
  state, first_step = batch.reset(jax.random.PRNGKey(0))
  always_left = jnp.zeros((2,), jnp.int32)             # never reaches the end: truncates
  _, steps = jax.lax.scan(lambda s, _: batch.step(s, always_left), state, None, length=10)
  for t in range(10):
    print(f'step {t + 1}: reward {steps.reward[t, 0]:.0f} discount {steps.discount[t, 0]:.0f}'
          f' first {bool(steps.first[t, 0])} last {bool(steps.last[t, 0])}')
  # Step 8 hits the limit: ``last`` with discount 1, the final observation kept; step 9 is
  # the reset step, which ignores its action and returns the next episode's first one.
  assert steps.last[7].all() and not steps.first[7].any() and (steps.discount[7] == 1).all()
  assert steps.first[8].all() and (steps.reward[8] == 0).all()
  timesteps = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first_step, steps)
  trajectory = types.Trajectory(
      observation=timesteps.observation, first=timesteps.first, last=timesteps.last,
      action=jnp.zeros((10, 2), jnp.int32), reward=steps.reward,
      discount=types.transition_discount(steps), behaviour_extras=(), agent_state=())
  valid = types.valid_steps(trajectory)                # [T, B]: the action at x_8 is ignored
  assert not valid[8].any() and valid.sum() == 2 * 9, valid

  config = configs.get_config('cartpole').agent        # feed-forward MLP actor-critic
  agent = actor_critic.make_agent(env.spec, config)
  runtime = on_device.make(agent, env, learner_lib.learner_for(agent, optax.adam(3e-3)),
                           num_envs=16, unroll_length=16, updates_per_call=10)
  train_state = runtime.init(jax.random.PRNGKey(1))
  for call in range(num_calls):
    train_state, metrics = runtime.update(train_state)
    mean_return = metrics['return_sum'] / max(int(metrics['episodes']), 1)
    print(f'call {call}: loss {float(metrics["loss"]):.2f}, return {float(mean_return):.2f}')
  assert jnp.isfinite(metrics['loss']) and metrics['episodes'] > 0, metrics
  evaluation = runtime.evaluate(train_state.learner.params, jax.random.PRNGKey(2))
  print(f'evaluation: mean return {float(evaluation.episode_return.mean()):.2f}')
  return train_state, metrics


if __name__ == '__main__':
  main()
