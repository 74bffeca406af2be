"""Actor-critic losses: IMPALA's with V-trace targets (arXiv 1802.01561, §4.2) and A3C's
with n-step returns (arXiv 1602.01783, Algorithm S3)."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from agents.actor_critic import network as network_lib
from agents.actor_critic import policies
from core import returns
from core import types


class ActorExtras(NamedTuple):
  """What the behaviour policy records for the learner, per step ``[B, ...]``."""
  policy: Any             # the behaviour policy μ(·|x_t): its logits [B, A], or Gaussian
  #                         parameters
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
  action_T = trajectory.action[-1]
  last_action = jnp.where(first_T.reshape(first_T.shape + (1,) * (action_T.ndim - 1)), 0,
                          action_T)
  return network_lib.NetInputs(
      observation=trajectory.observation,
      first=trajectory.first,
      prev_reward=jnp.concatenate([extras.prev_reward, last_reward[None]]),
      prev_action=jnp.concatenate([extras.prev_action, last_action[None]]))


class _PolicyTerms(NamedTuple):
  """What both losses compute first from the network's unroll, per step ``[T, B]``."""
  entropy: jax.Array         # H(π(·|x_t))
  log_pi_a: jax.Array        # log π(a_t|x_t)
  values: jax.Array          # V(x_t)
  bootstrap_value: jax.Array  # [B] V(x_T)
  rewards: jax.Array         # r_t, clipped when asked
  valid: jax.Array           # core.types.valid_steps


def _policy_terms(network, policy: policies.Policy, params, trajectory: types.Trajectory,
                  reward_clip: float | None, reward_scale: float = 1.0) -> _PolicyTerms:
  output, _ = network.unroll(params, unroll_inputs(trajectory), trajectory.agent_state.core)
  pi = jax.tree.map(lambda x: x[:-1], output.policy)
  log_pi_a = policy.log_prob(pi, trajectory.action)
  rewards = trajectory.reward * reward_scale
  if reward_clip:
    rewards = jnp.clip(rewards, -reward_clip, reward_clip)
  return _PolicyTerms(policy.entropy(pi), log_pi_a, output.value[:-1], output.value[-1], rewards,
                      types.valid_steps(trajectory))


def _actor_critic_total(terms: _PolicyTerms, advantages, value_targets, *,
                        baseline_cost: float, entropy_cost: float):
  """−Σ A_t log π(a_t) + baseline_cost · ½ Σ (G_t − V(x_t))² − entropy_cost · Σ H,
  over valid steps (``advantages`` are already 0 elsewhere)."""
  pg_loss = -jnp.sum(advantages * terms.log_pi_a)
  baseline_loss = 0.5 * jnp.sum(
      jnp.where(terms.valid, jnp.square(value_targets - terms.values), 0.0))
  entropy = terms.entropy
  total = (pg_loss + baseline_cost * baseline_loss
           - entropy_cost * jnp.sum(jnp.where(terms.valid, entropy, 0.0)))
  metrics = {
      'loss': total,
      'pg_loss': pg_loss,
      'baseline_loss': baseline_loss,
      'entropy': jnp.mean(entropy),
      'value': jnp.mean(terms.values),
  }
  return total, metrics


def make_vtrace_loss(network: network_lib.Network,
                     *,
                     policy: policies.Policy,
                     discount: float,
                     baseline_cost: float,
                     entropy_cost: float,
                     lambda_: float = 1.0,
                     clip_rho_threshold: float = 1.0,
                     clip_c_threshold: float = 1.0,
                     clip_pg_rho_threshold: float = 1.0,
                     reward_clip: float | None = None, reward_scale: float = 1.0):
  """Returns ``loss(params, trajectory, key) -> (loss, metrics)``.

  loss = Σ_{t,b} [ −ρ̃_t A_t log π(a_t|x_t) + baseline_cost · ½ (v_t − V(x_t))²
                   − entropy_cost · H(π(·|x_t)) ],
  summed over time and batch as in the paper, so its hyper-parameters carry over. Reset
  steps (``core.types.valid_steps``: a truncated episode's final observation, whose
  action the environment ignored) count in none of the terms, and V-trace bootstraps
  from that final observation's value.
  Rewards are multiplied by ``reward_scale``, then clipped to ``[-reward_clip,
  reward_clip]`` when it is set (Atari: 1).
  """

  def loss(params, trajectory: types.Trajectory, key=None):
    del key  # the loss is deterministic
    terms = _policy_terms(network, policy, params, trajectory, reward_clip, reward_scale)
    log_rhos = terms.log_pi_a - policy.log_prob(trajectory.behaviour_extras.policy,
                                                trajectory.action)
    vtrace = returns.vtrace(
        log_rhos=log_rhos,
        discounts=trajectory.discount * discount,
        rewards=terms.rewards,
        values=terms.values,
        bootstrap_value=terms.bootstrap_value,
        clip_rho_threshold=clip_rho_threshold,
        clip_c_threshold=clip_c_threshold,
        clip_pg_rho_threshold=clip_pg_rho_threshold,
        lambda_=lambda_,
        mask=terms.valid)
    total, metrics = _actor_critic_total(
        terms, vtrace.pg_advantages, vtrace.vs,
        baseline_cost=baseline_cost, entropy_cost=entropy_cost)
    return total, dict(metrics, mean_rho=jnp.mean(jnp.exp(log_rhos)))

  return loss


def make_nstep_loss(network: network_lib.Network,
                    *,
                    policy: policies.Policy,
                    discount: float,
                    baseline_cost: float,
                    entropy_cost: float,
                    reward_clip: float | None = None, reward_scale: float = 1.0):
  """A3C's loss: ``loss(params, trajectory, key) -> (loss, metrics)``.

  Each step's target is the longest n-step return the unroll holds,
  G_t = r_t + γ r_{t+1} + … + γ^{T−t} V(x_T) (``core.returns.lambda_returns`` at λ = 1;
  0 past a termination), the advantage is G_t − V(x_t) (no gradient), and

    loss = Σ_{t,b} [ −A_t log π(a_t|x_t) + baseline_cost · ½ (G_t − V(x_t))²
                     − entropy_cost · H(π(·|x_t)) ].

  The policy that acted is the one differentiated (a worker's local copy), so there are
  no importance weights. Reset steps count in none of the terms.
  """

  def loss(params, trajectory: types.Trajectory, key=None):
    del key  # the loss is deterministic
    terms = _policy_terms(network, policy, params, trajectory, reward_clip, reward_scale)
    next_values = jnp.concatenate([terms.values[1:], terms.bootstrap_value[None]])
    targets = jax.lax.stop_gradient(returns.lambda_returns(
        terms.rewards, trajectory.discount * discount, next_values, lambda_=1.0,
        mask=terms.valid))
    advantages = jnp.where(terms.valid,
                           targets - jax.lax.stop_gradient(terms.values), 0.0)
    return _actor_critic_total(terms, advantages, targets,
                               baseline_cost=baseline_cost, entropy_cost=entropy_cost)

  return loss
