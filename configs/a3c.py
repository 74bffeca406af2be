"""The asynchronous methods (arXiv 1602.01783) on the Hogwild! runtime.

Variants (``--config=configs/a3c.py:VARIANTS``, comma-separated, applied in order):
  Algorithms:
    a3c (default)   advantage actor-critic, feed-forward, n-step returns (t_max 5),
                    entropy 0.01.
    a3c_lstm        A3C with an LSTM core.
    q1              asynchronous one-step Q-learning (target network, ε-greedy workers
                    whose final ε is drawn from {0.1, 0.01, 0.5} w.p. {0.4, 0.3, 0.3}).
    sarsa1          asynchronous one-step Sarsa.
    qn              asynchronous n-step Q-learning.
  Environments:
    cartpole (default)  gymnasium's CartPole-v1 (target: mean return 475).
    game=<name>         an Atari game through ale-py (the A3C paper's shallow net), e.g.
                        game=pong.
    mujoco=<id>         a MuJoCo task through gymnasium (the ``mujoco`` extra), e.g.
                        mujoco=InvertedPendulum-v5 or mujoco=HalfCheetah-v5: A3C with a
                        Gaussian policy (linear mean, softplus variance), entropy 1e-4;
                        lr 1e-3, t_max 20, rewards x 0.1 in the loss (tuned on
                        InvertedPendulum: results/a3c/tuning/).
    epsilon=<x>     the Q-learners: every worker's final ε is x instead of the paper's
                    draw from {0.1, 0.01, 0.5}. For comparing worker counts by the return of
                    the ε-greedy training episodes: with the draw, one worker that draws 0.5
                    plays training episodes that stay short whatever its greedy policy.
    lr=<x>          the initial learning rate (annealed linearly to 0 as always), e.g.
                    sarsa1,lr=3e-4 (CartPole: 2 of 3 seeds at 500,000 frames, 3 of 3 at
                    1,000,000; results/a3c/sarsa_lr3e-4_1m/).
    entropy=<x>     A3C: the entropy cost (default 0.01; MuJoCo 1e-4), e.g.
                    a3c,entropy=0.001: a lower cost leaves a less random final policy,
                    whose sampled actions score closer to its mode (CartPole: 3 of 3
                    seeds at 500,000 frames; results/a3c/entropy_1e-3/).
  Runtime:
    threads         worker threads instead of processes (see core/runtime/async_workers.py).
    deterministic   workers apply their gradients in rounds, in a fixed order: two runs
                    with one seed give identical parameters.
    smoke           a tiny budget for tests (seconds).

Settings from the paper's supplementary material: RMSProp with statistics shared by all
workers (decay 0.99, ε 0.1 inside the square root), learning rate annealed linearly to 0
over the run, t_max 5, discount 0.99, one environment per worker, as many workers as
cores. The paper samples the learning rate log-uniformly from [1e-4, 1e-2] per run; here
it is one value per setting. ``python scripts/run.py --config=configs/a3c.py``
trains A3C on CartPole.
"""

import ml_collections

from configs import actor_critic
from configs import variants


def async_runtime() -> ml_collections.ConfigDict:
  """The asynchronous runtime block (core/runtime/async_workers.py)."""
  runtime = ml_collections.ConfigDict()
  runtime.name = 'async'
  runtime.num_workers = 0        # 0: one per CPU core
  runtime.envs_per_worker = 1
  runtime.unroll_length = 5      # t_max
  runtime.backend = 'process'    # process | thread
  runtime.deterministic = False
  return runtime


def _base() -> ml_collections.ConfigDict:
  config = actor_critic.experiment_config()
  config.total_frames = 2_000_000
  config.target_return = 475.0
  config.log_interval_s = 5.0
  config.num_eval_episodes = 100

  config.env = ml_collections.ConfigDict()
  config.env.name = 'gym/CartPole-v1'
  config.env.kwargs = ml_collections.ConfigDict()

  config.agent = actor_critic.agent_config()
  config.agent.loss = 'nstep'
  config.agent.hidden_sizes = (64, 64)
  config.agent.entropy_cost = 0.01
  config.agent.discount = 0.99

  config.optimizer = actor_critic.optimizer_config()
  config.optimizer.name = 'rmsprop'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'linear'
  config.optimizer.decay = 0.99
  config.optimizer.eps = 0.1
  config.optimizer.max_grad_norm = 40.0

  config.runtime = async_runtime()
  return config


def q_agent_config() -> ml_collections.ConfigDict:
  """The Q-learning agent block (agents/q_learning), set for CartPole."""
  agent = ml_collections.ConfigDict()
  agent.name = 'q_learning'
  agent.algorithm = 'q1'          # q1 | sarsa1 | qn
  agent.torso = 'mlp'
  agent.conv_implementation = 'auto'
  agent.hidden_sizes = (64, 64)
  agent.activation = 'tanh'
  agent.discount = 0.99
  agent.reward_clip = 0.0
  agent.target_update_period = 200  # updates (of t_max steps each, all workers together)
  # Each worker's own environment steps; the paper anneals over the first 4M Atari frames.
  agent.epsilon_anneal_steps = 20_000
  agent.epsilon_finals = (0.1, 0.01, 0.5)
  agent.epsilon_probs = (0.4, 0.3, 0.3)
  return agent


def _q(algorithm):
  def apply(config):
    config.agent = q_agent_config()
    config.agent.algorithm = algorithm
    return config
  return apply


def _a3c(config):
  config.agent.name = 'actor_critic'
  config.agent.loss = 'nstep'
  return config


def _a3c_lstm(config):
  config = _a3c(config)
  config.agent.core = 'lstm'
  return config


def _cartpole(config):
  return config


def _game(name):
  def apply(config):
    config.env.name = f'atari/{name}'
    config.env.kwargs = ml_collections.ConfigDict({
        'sticky_actions': False,
        'full_action_space': False,
        'life_loss_ends_episode': True,
    })
    config.target_return = None
    config.total_frames = 10_000_000
    config.num_eval_episodes = 10
    config.log_interval_s = 10.0
    config.checkpoint_interval_s = 120.0
    config.agent.torso = 'shallow'
    config.agent.reward_clip = 1.0
    if config.agent.name == 'q_learning':
      # The paper's I_target = 40,000 frames: 2,000 updates of t_max 5 agent steps of 4
      # frames; ε anneals over 4M frames shared by the workers: 500,000 agent steps each
      # for the 2 workers of a 2-core machine (scale it with --config.agent.*).
      config.agent.target_update_period = 2_000
      config.agent.epsilon_anneal_steps = 500_000
    else:
      config.agent.lstm_size = 256
    config.optimizer.learning_rate = 7e-4
    return config
  return apply


# Scores a MuJoCo task counts as solved at (the final policy's mean); others have none.
_MUJOCO_TARGETS = {'InvertedPendulum': 950.0}


def _mujoco(task):
  def apply(config):
    config.env.name = f'gym/{task}'
    config.env.kwargs = ml_collections.ConfigDict()
    config.total_frames = 2_000_000
    config.num_eval_episodes = 20
    # The paper maps low-dimensional states through one hidden layer of 200 ReLUs (then an
    # LSTM, which `a3c_lstm` adds).
    config.agent.hidden_sizes = (200,)
    config.agent.activation = 'relu'
    config.agent.entropy_cost = 1e-4
    # Tuned on InvertedPendulum-v5 (1M frames, seed 0; see results/a3c/README.md): with
    # the paper's t_max = 5, or unscaled rewards (values up to ~100), or lr 1e-4, runs
    # stayed below 150 or collapsed; t_max 20 with rewards scaled by 0.1 solved it.
    config.optimizer.learning_rate = 1e-3
    config.runtime.unroll_length = 20
    config.agent.reward_scale = 0.1
    config.target_return = _MUJOCO_TARGETS.get(task.split('-')[0])
    return config
  return apply


def _number(variant: str, value: str, is_valid, expected: str) -> float:
  return variants.number('configs/a3c.py', variant, value, is_valid, expected)


def _final_epsilon(value: str):
  def apply(config):
    if config.agent.name != 'q_learning':
      raise ValueError(f"configs/a3c.py variant 'epsilon={value}': only the Q-learners "
                       f"(q1, sarsa1, qn) have an ε; put it after one of them")
    epsilon = _number('epsilon', value, lambda x: 0.0 <= x <= 1.0, 'a number in [0, 1]')
    config.agent.epsilon_finals = (epsilon,)
    config.agent.epsilon_probs = (1.0,)
    return config
  return apply


def _learning_rate(value: str):
  def apply(config):
    config.optimizer.learning_rate = _number('lr', value, lambda x: x > 0.0,
                                             'a positive number, e.g. lr=3e-4')
    return config
  return apply


def _entropy_cost(value: str):
  def apply(config):
    if config.agent.name != 'actor_critic':
      raise ValueError(f"configs/a3c.py variant 'entropy={value}': only A3C (a3c, a3c_lstm) "
                       f"has an entropy cost; put it after one of them")
    config.agent.entropy_cost = _number('entropy', value, lambda x: x >= 0.0,
                                        'a non-negative number, e.g. entropy=0.001')
    return config
  return apply


def _threads(config):
  config.runtime.backend = 'thread'
  return config


def _deterministic(config):
  config.runtime.deterministic = True
  return config


def _smoke(config):
  rt = config.runtime
  config.total_frames = 40 * rt.unroll_length * rt.envs_per_worker
  config.num_eval_episodes = 2
  config.log_interval_s = 0.01
  config.checkpoint_interval_s = 0.01
  rt.num_workers = 2
  return config


VARIANTS = {
    'a3c': _a3c,
    'a3c_lstm': _a3c_lstm,
    'q1': _q('q1'),
    'sarsa1': _q('sarsa1'),
    'qn': _q('qn'),
    'cartpole': _cartpole,
    'threads': _threads,
    'deterministic': _deterministic,
    'smoke': _smoke,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The base config with the comma-separated variants in ``arg`` applied in order."""
  return variants.apply(_base(), arg, VARIANTS, default='a3c,cartpole',
                        source='configs/a3c.py',
                        parameterised={'game': _game, 'mujoco': _mujoco,
                                       'epsilon': _final_epsilon, 'lr': _learning_rate,
                                       'entropy': _entropy_cost})
