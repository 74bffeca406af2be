"""IMPALA on Atari (arXiv 1802.01561): decoupled actors and learner, V-trace.

Variants (``--config=configs/impala_atari.py:VARIANTS``, comma-separated, in order):
  pong (default), breakout, or any ale-py game as ``game=<name>`` (e.g. ``game=seaquest``).
  deep      the 15-layer ResNet torso instead of the shallow (A3C) one.
  lstm      an LSTM (256) fed the previous reward and one-hot previous action.
  sticky    sticky actions (repeat probability 0.25).
  full_actions  the full 18-action set.
  small_batch  B = 16, T = 10: four times the updates per frame. The paper's B = 32, T = 20
            spends 2,560 Atari frames per update, so a 10M-frame budget holds only ~3,900
            updates (the paper trains 200M frames); Pong did not leave -20 in 10M frames
            with it (results/impala/README.md).
  replay    batches of 8 unrolls of T = 10, three quarters of them replayed from the
            last 128 unrolls (2 actors x 2 environments): every unroll is learnt from 4
            times and there is one update per 20 agent steps, 32x the paper's rate.
  replay7   as ``replay`` but 7 of every 8 unrolls replayed, in batches of 16: each unroll is
            learnt from 8 times, and each update sees twice the samples at the same
            update rate per frame (for the noisier-than-PPO batches of ``replay``).
  adam      Adam (lr 2.5e-4, ε 1e-8) instead of RMSProp: its step does not depend on the
            gradient's scale, which RMSProp's ε = 0.01 does with small summed batches.
  low_entropy  entropy cost 0.003 instead of 0.01 (Pong needs a nearly deterministic
            policy to win its points; at 0.01 the policy stayed at ~85 % of the uniform
            entropy through 5M frames).
  constant_lr  no learning-rate decay. The paper decays to 0 over its 200M frames; over a
            10M-frame budget the linear decay has halved the rate by the time Pong takes
            off (~3-5M frames) and slows the climb after it.
  smoke     a few updates of a tiny run (tests).

The paper's Atari settings: RMSProp (decay 0.99, ε 0.01, momentum 0), learning rate 6e-4
decayed linearly to 0 over the frame budget, entropy cost 0.01, baseline cost 0.5,
discount 0.99, global-norm clip 40, rewards clipped to [-1, 1], T = 20, B = 32, life loss
ends a training episode (the reported return is the full game's). Frames count Atari
frames (4 per agent step).

  python scripts/run.py --config=configs/impala_atari.py:pong --workdir=runs/pong
  2 CPU cores: Pong, 10M frames (see results/impala/ for the measured curves).

The learner runs on one device by default. Splitting its batch over virtual CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=N`` and
``--config.runtime.learner_devices=N``) no longer pays on CPU: the split paid only while
XLA's own convolution gradients were the cost, and with the matmul path one device is the
faster (see results/bench/impala.json, written by scripts/bench_impala.py, and
results/bench/NOTES.md for the two-device figure). On several real accelerators it is what
spreads the batch.
"""

import ml_collections

from configs import actor_critic
from configs import variants


def _base() -> ml_collections.ConfigDict:
  config = actor_critic.experiment_config()
  config.total_frames = 10_000_000
  config.target_return = 18.0
  config.log_interval_s = 10.0
  config.checkpoint_interval_s = 120.0
  config.num_eval_episodes = 10

  config.env = ml_collections.ConfigDict()
  config.env.name = 'atari/pong'
  config.env.kwargs = ml_collections.ConfigDict({
      'sticky_actions': False,
      'full_action_space': False,
      'life_loss_ends_episode': True,
  })

  config.agent = actor_critic.agent_config()
  config.agent.torso = 'shallow'
  config.agent.lstm_size = 256
  config.agent.lstm_prev_inputs = True
  config.agent.discount = 0.99
  config.agent.baseline_cost = 0.5
  config.agent.entropy_cost = 0.01
  config.agent.reward_clip = 1.0

  config.optimizer = actor_critic.optimizer_config()
  config.optimizer.learning_rate = 6e-4
  config.optimizer.schedule = 'linear'
  config.optimizer.decay = 0.99
  config.optimizer.eps = 0.01
  config.optimizer.momentum = 0.0
  config.optimizer.max_grad_norm = 40.0

  config.runtime = actor_critic.actor_learner_runtime()
  return config


def _game(name):
  def apply(config):
    config.env.name = f'atari/{name}'
    config.target_return = {'pong': 18.0}.get(name)  # None: no target for this game
    return config
  return apply


def _deep(config):
  config.agent.torso = 'deep'
  return config


def _lstm(config):
  config.agent.core = 'lstm'
  return config


def _sticky(config):
  config.env.kwargs.sticky_actions = True
  return config


def _full_actions(config):
  config.env.kwargs.full_action_space = True
  return config


def _small_batch(config):
  config.runtime.batch_size = 16
  config.runtime.unroll_length = 10
  config.runtime.envs_per_actor = 16
  return config


def _replay(config):
  rt = config.runtime
  rt.envs_per_actor, rt.batch_size, rt.unroll_length = 2, 8, 10
  rt.replay_ratio, rt.replay_capacity = 3, 128
  return config


def _replay7(config):
  rt = _replay(config).runtime
  rt.batch_size, rt.replay_ratio = 16, 7
  return config


def _adam(config):
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 2.5e-4
  config.optimizer.eps = 1e-8
  return config


def _low_entropy(config):
  config.agent.entropy_cost = 0.003
  return config


def _constant_lr(config):
  config.optimizer.schedule = 'constant'
  return config


def _smoke(config):
  config.runtime.num_actors = 2
  config.runtime.envs_per_actor = 2
  # Two fresh actor unrolls per batch, plus replayed ones with the replay variant.
  config.runtime.batch_size = 2 * 2 * (config.runtime.replay_ratio + 1)
  config.runtime.unroll_length = 5
  config.total_frames = 3 * 4 * 5 * 4
  config.log_interval_s = 0.01
  config.checkpoint_interval_s = 0.01
  config.num_eval_episodes = 1
  return config


VARIANTS = {
    'pong': _game('pong'),
    'breakout': _game('breakout'),
    'deep': _deep,
    'lstm': _lstm,
    'sticky': _sticky,
    'full_actions': _full_actions,
    'small_batch': _small_batch,
    'replay': _replay,
    'replay7': _replay7,
    'adam': _adam,
    'low_entropy': _low_entropy,
    'constant_lr': _constant_lr,
    'smoke': _smoke,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The base config with the comma-separated variants in ``arg`` applied in order."""
  return variants.apply(_base(), arg, VARIANTS, default='pong',
                        source='configs/impala_atari.py', parameterised={'game': _game})
