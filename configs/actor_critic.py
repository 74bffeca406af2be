"""Actor-critic with the IMPALA/V-trace loss, trained by the on-device runtime.

Variants (``--config=configs/actor_critic.py:VARIANTS``, comma-separated, applied in order):
  cartpole (default)  feed-forward MLP on CartPole-v1.
      python scripts/run.py
      2 CPU cores: eval return 484-499 over seeds 0-4 (target_return 475) in about 40 s.
  memory              LSTM agent on the cue-memory task (4 cues, delay 5).
      python scripts/run.py --config=configs/actor_critic.py:memory --workdir=runs/memory
      2 CPU cores: >= 95 % correct (mean return >= 0.95) in about a minute.
  memory_ff           the same task with a feed-forward agent: stays at chance (~25 %).
  lstm                swap the feed-forward torso for an LSTM core (any task).
  ntm, dnc, dam, sam, sdnc
                      a memory model (memory/cores.py) as the agent's core, its controller
                      an LSTM of agent.lstm_size, memory sized by agent.memory (16 rows of
                      8, one read head, K = 2):
      python scripts/run.py --config=configs/actor_critic.py:memory,sam --workdir=runs/sam
  cartpole_host       gymnasium's CartPole with the actor-learner (IMPALA) runtime.
  smoke               tiny budget for tests (seconds).

The training settings follow IMPALA's (RMSProp, linear learning-rate decay to 0,
global-norm clip 40, baseline cost 0.5) with CartPole-sized networks and batches.
"""

import ml_collections

from configs import common
from configs import variants


def agent_config() -> ml_collections.ConfigDict:
  """The actor-critic agent block (shared by every config that uses this agent)."""
  config = ml_collections.ConfigDict()
  config.agent = ml_collections.ConfigDict()
  config.agent.name = 'actor_critic'
  config.agent.torso = 'mlp'  # mlp | shallow | deep (the IMPALA Atari nets)
  config.agent.conv_implementation = 'auto'
  config.agent.hidden_sizes = (64, 64)
  config.agent.activation = 'tanh'
  config.agent.core = 'none'
  config.agent.lstm_size = 64
  config.agent.lstm_prev_inputs = False  # feed the LSTM the previous reward and action
  config.agent.remat = False
  config.agent.loss = 'vtrace'  # vtrace (IMPALA) | nstep (A3C)
  config.agent.discount = 0.99
  config.agent.baseline_cost = 0.5
  config.agent.entropy_cost = 0.01
  config.agent.lambda_ = 1.0
  config.agent.clip_rho_threshold = 1.0
  config.agent.clip_c_threshold = 1.0
  config.agent.clip_pg_rho_threshold = 1.0
  config.agent.reward_clip = 0.0  # 0: no clipping
  # Rewards are multiplied by this (then clipped) in the loss; returns are reported unscaled.
  config.agent.reward_scale = 1.0
  # How the agent picks actions: 'sample' from its policy (training, and the score by
  # default) or its policy's 'mode' (argmax / Gaussian mean: the greedy score).
  config.agent.act = 'sample'
  return config.agent


def actor_learner_runtime() -> ml_collections.ConfigDict:
  """The actor-learner runtime block: actor threads with host vector envs, one learner."""
  runtime = ml_collections.ConfigDict()
  runtime.name = 'actor_learner'
  runtime.num_actors = 2
  runtime.envs_per_actor = 16
  runtime.batch_size = 32        # B: environments' unrolls per learner batch
  runtime.unroll_length = 20     # T
  runtime.queue_capacity = 2     # unrolls of envs_per_actor environments
  runtime.env_threads = 1        # threads of each actor's vector env (0: the env's default)
  runtime.learner_devices = 1    # devices the learner's batch is split over (0: all)
  runtime.replay_ratio = 0       # replayed unrolls per fresh one in each batch (0: no replay)
  runtime.replay_capacity = 1024  # environments' unrolls the replay keeps
  return runtime


def experiment_config() -> ml_collections.ConfigDict:
  """Fields every RL experiment has."""
  config = common.run_config()
  config.total_frames = 1_000_000
  # The mean return a run should reach; None where no target is stated.
  config.target_return = ml_collections.config_dict.placeholder(float)
  config.num_eval_episodes = 100
  return config


optimizer_config = common.optimizer_config


def _base() -> ml_collections.ConfigDict:
  config = experiment_config()
  config.total_frames = 50_000_000
  config.target_return = 475.0
  config.env = ml_collections.ConfigDict()
  config.env.name = 'cartpole'
  config.env.kwargs = ml_collections.ConfigDict({'max_episode_steps': 500})
  config.agent = agent_config()
  config.optimizer = optimizer_config()

  config.runtime = ml_collections.ConfigDict()
  config.runtime.name = 'on_device'
  config.runtime.num_envs = 32
  config.runtime.unroll_length = 20
  config.runtime.updates_per_call = 50
  config.runtime.num_devices = 1  # 0: all devices present
  return config


def _cartpole(config):
  return config


def _memory(config):
  config.env.name = 'cue_memory'
  config.env.kwargs = ml_collections.ConfigDict({'num_cues': 4, 'delay': 5})
  config.agent.core = 'lstm'
  config.total_frames = 2_000_000
  config.target_return = 0.95
  return config


def _memory_ff(config):
  config = _memory(config)
  config.agent.core = 'none'
  return config


def _lstm(config):
  config.agent.core = 'lstm'
  return config


def _memory_core(name):
  """A memory model (memory/cores.py) as the agent's core, its controller an LSTM of
  ``agent.lstm_size``, sized for the cue-memory task (one read head)."""
  def apply(config):
    config.agent.core = name
    config.agent.memory = common.memory_config(num_rows=16, word_size=8, num_reads=1, k=2)
    return config
  return apply


def _cartpole_host(config):
  """CartPole as a host (gymnasium) environment, trained by the actor-learner runtime."""
  config.env.name = 'gym/CartPole-v1'
  config.env.kwargs = ml_collections.ConfigDict()
  config.runtime = actor_learner_runtime()
  config.runtime.envs_per_actor = 8
  config.runtime.batch_size = 16
  config.runtime.env_threads = 0
  # Acting-bound on 2 CPU cores (gymnasium steps in Python); the budget leaves room above
  # the target when other processes share the cores (the policy lag then grows).
  config.total_frames = 600_000
  config.target_return = 120.0
  return config


def _smoke(config):
  if config.runtime.name == 'on_device':
    config.total_frames = 2 * config.runtime.num_envs * config.runtime.unroll_length * 4
    config.runtime.updates_per_call = 2
  else:
    config.total_frames = 4 * config.runtime.batch_size * config.runtime.unroll_length
  config.num_eval_episodes = 4
  config.log_interval_s = 0.01
  config.checkpoint_interval_s = 0.01
  return config


VARIANTS = {
    'cartpole': _cartpole,
    'memory': _memory,
    'memory_ff': _memory_ff,
    'lstm': _lstm,
    **{name: _memory_core(name) for name in common.MEMORY_CORES if name != 'lstm'},
    'cartpole_host': _cartpole_host,
    'smoke': _smoke,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The base config with the comma-separated variants in ``arg`` applied in order."""
  return variants.apply(_base(), arg, VARIANTS, default='cartpole',
                        source='configs/actor_critic.py')
