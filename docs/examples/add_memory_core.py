"""A new recurrent core: an LSTM controller with a ring-buffer memory of N rows, written
one row per step and read by softmax attention, dropped unchanged into the actor-critic.

Run from the repository root: ``python docs/examples/add_memory_core.py`` (CPU, seconds).
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from agents.actor_critic import agent as actor_critic
from configs import actor_critic as configs
from core import learner as learner_lib
from core import recurrent
from core import unroll
from core.nn import lstm
from core.runtime import on_device
from envs import registry


class RingState(NamedTuple):
  controller: tuple        # the LSTM's (c, h), [B, H] each
  memory: jax.Array        # [B, N, M] the last N rows written this episode (zeros: unwritten)
  position: jax.Array      # [B] int32 row the next write goes to
  read: jax.Array          # [B, M] what the last step read


def ring_memory_core(num_rows=8, width=16, controller_size=32) -> recurrent.RecurrentCore:
  controller = lstm.lstm_core(controller_size)
  heads = nn.Dense(2 * width)                         # what to write, what to look for

  def init(key, x):                                   # x: [B, D]
    controller_key, heads_key = jax.random.split(key)
    read = jnp.zeros((x.shape[0], width))
    return {'controller': controller.init(controller_key, jnp.concatenate([x, read], -1)),
            'heads': heads.init(heads_key, jnp.zeros((x.shape[0], controller_size)))}

  def initial_state(params, key, batch_size):
    return RingState(controller.initial_state(None, key, batch_size),
                     jnp.zeros((batch_size, num_rows, width)),
                     jnp.zeros((batch_size,), jnp.int32), jnp.zeros((batch_size, width)))

  def step(params, state, x):
    c_state, h = controller.step(params['controller'], state.controller,
                                 jnp.concatenate([x, state.read], -1))
    write, query = jnp.split(heads.apply(params['heads'], h), 2, axis=-1)  # [B, M] each
    slot = jax.nn.one_hot(state.position, num_rows)[..., None]        # [B, N, 1]
    memory = state.memory * (1 - slot) + slot * write[:, None]
    scores = jnp.einsum('bnm,bm->bn', memory, query)
    read = jnp.einsum('bn,bnm->bm', jax.nn.softmax(scores / width**0.5), memory)
    state = RingState(c_state, memory, (state.position + 1) % num_rows, read)
    return state, jnp.concatenate([h, read], -1)                       # y: [B, H + M]

  def reset(params, state, first):                    # first: [B] bool
    # Only the batch rows that start an episode start over, and only on steps where one
    # does: lax.cond skips the O(B N M) select otherwise. A core with a huge memory would
    # reset a write counter here instead and leave the stale rows unread.
    fresh = initial_state(params, None, first.shape[0])
    return jax.lax.cond(jnp.any(first), lambda: unroll.reset_where(first, fresh, state),
                        lambda: state)

  return recurrent.RecurrentCore(init, initial_state, step, reset)


def main(num_calls: int = 8):
  core = ring_memory_core()
  x = jnp.ones((2, 5))
  params = core.init(jax.random.PRNGKey(0), x)
  state, _ = core.step(params, core.initial_state(params, None, 2), x)
  state = core.reset(params, state, jnp.array([True, False]))
  assert not state.memory[0].any() and state.memory[1].any()      # only row 0 started over

  config = configs.get_config('memory')                 # cue_memory, 4 cues, delay 5
  env = registry.make(config.env.name, **config.env.kwargs)
  agent = actor_critic.make_agent(env.spec, config.agent, core=core)
  learner = learner_lib.learner_for(agent, optax.adam(1e-3))
  runtime = on_device.make(agent, env, learner, num_envs=32, unroll_length=20,
                           updates_per_call=10, num_eval_episodes=16)
  state = runtime.init(jax.random.PRNGKey(0))
  for call in range(num_calls):
    state, metrics = runtime.update(state)
    correct = metrics['return_sum'] / max(int(metrics['episodes']), 1)
    print(f'call {call}: loss {float(metrics["loss"]):.2f}, correct {float(correct):.2f}')
  assert jnp.isfinite(metrics['loss']) and metrics['episodes'] > 0, metrics
  return state, metrics


if __name__ == '__main__':
  main()
