"""The IMPALA actor-critic loss with V-trace targets (arXiv 1802.01561, §4.2)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from agents.actor_critic import network as network_lib
from core import returns
from core import types


class ActorExtras(NamedTuple):
  """What the behaviour policy records for the learner, per step ``[B, ...]``."""
  logits: jax.Array       # [B, A] behaviour policy logits μ(·|x_t)
  prev_reward: jax.Array  # [B] reward the network saw with x_t
  prev_action: jax.Array  # [B] previous action the network saw with x_t


def unroll_inputs(trajectory: types.Trajectory) -> network_lib.NetInputs:
  """The network inputs for all ``T + 1`` observations of a trajectory.

  Steps ``0 .. T-1`` reuse what the actor fed its network (recorded in the extras);
  the bootstrap step ``T`` gets the last transition's reward and action.
  """
  extras = trajectory.behaviour_extras
  first_T = trajectory.first[-1]
  last_reward = jnp.where(first_T, 0.0, trajectory.reward[-1])
  last_action = jnp.where(first_T, 0, trajectory.action[-1])
  return network_lib.NetInputs(
      observation=trajectory.observation,
      first=trajectory.first,
      prev_reward=jnp.concatenate([extras.prev_reward, last_reward[None]]),
      prev_action=jnp.concatenate([extras.prev_action, last_action[None]]))


def make_vtrace_loss(network: network_lib.Network,
                     *,
                     discount: float,
                     baseline_cost: float,
                     entropy_cost: float,
                     lambda_: float = 1.0,
                     clip_rho_threshold: float = 1.0,
                     clip_c_threshold: float = 1.0,
                     clip_pg_rho_threshold: float = 1.0,
                     reward_clip: float | None = None):
  """Returns ``loss(params, trajectory, key) -> (loss, metrics)``.

  loss = Σ_{t,b} [ −ρ̃_t A_t log π(a_t|x_t) + baseline_cost · ½ (v_t − V(x_t))²
                   − entropy_cost · H(π(·|x_t)) ],
  summed over time and batch as in the paper, so its hyper-parameters carry over. Reset
  steps (``core.types.valid_steps``: a truncated episode's final observation, whose
  action the environment ignored) count in none of the terms, and V-trace bootstraps
  from that final observation's value.
  Rewards are clipped to ``[-reward_clip, reward_clip]`` when it is set (Atari: 1).
  """

  def loss(params, trajectory: types.Trajectory, key=None):
    del key  # the loss is deterministic
    output, _ = network.unroll(params, unroll_inputs(trajectory),
                               trajectory.agent_state.core)
    logits, values = output.logits[:-1], output.value[:-1]
    bootstrap_value = output.value[-1]

    log_pi = jax.nn.log_softmax(logits)
    log_mu = jax.nn.log_softmax(trajectory.behaviour_extras.logits)
    take = lambda logp: jnp.take_along_axis(
        logp, trajectory.action[..., None], axis=-1)[..., 0]
    log_pi_a = take(log_pi)
    log_rhos = log_pi_a - take(log_mu)

    valid = types.valid_steps(trajectory)
    rewards = trajectory.reward
    if reward_clip:
      rewards = jnp.clip(rewards, -reward_clip, reward_clip)
    vtrace = returns.vtrace(
        log_rhos=log_rhos,
        discounts=trajectory.discount * discount,
        rewards=rewards,
        values=values,
        bootstrap_value=bootstrap_value,
        clip_rho_threshold=clip_rho_threshold,
        clip_c_threshold=clip_c_threshold,
        clip_pg_rho_threshold=clip_pg_rho_threshold,
        lambda_=lambda_,
        mask=valid)

    pg_loss = -jnp.sum(vtrace.pg_advantages * log_pi_a)
    baseline_loss = 0.5 * jnp.sum(jnp.where(valid, jnp.square(vtrace.vs - values), 0.0))
    entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)
    total = (pg_loss + baseline_cost * baseline_loss
             - entropy_cost * jnp.sum(jnp.where(valid, entropy, 0.0)))
    metrics = {
        'loss': total,
        'pg_loss': pg_loss,
        'baseline_loss': baseline_loss,
        'entropy': jnp.mean(entropy),
        'mean_rho': jnp.mean(jnp.exp(log_rhos)),
        'value': jnp.mean(values),
    }
    return total, metrics

  return loss
