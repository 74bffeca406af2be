"""The predictron and its conv-net baselines on random mazes, trained by the supervised
runtime (Silver et al. 2017: Adam 1e-3, batches of 100).

Variants (``--config=configs/predictron.py:VARIANTS``, comma-separated, in order):
  maze (default)   20×20 random mazes, 20 predictions (envs/mazes.py)
  pool             the pool table, 280 predictions (envs/pool.py)
  rgl              the (r, γ, λ)-predictron (the default model)
  rg               the (r, γ)-predictron: λ = 1, so g^λ = g^K
  l                the (λ)-predictron: r = 0, γ = 1
  none             neither: r = 0, γ = 1, λ = 1 (g^λ = v^K)
  no_usage         uniform weights on the preturn losses (default: usage weighting)
  unshared         K cores instead of one
  depth=<K>        planning steps (default 16)
  consistency=<n>  n consistency updates on unlabelled batches per labelled update
  batch=<n>        examples per batch (default 100, the paper's)
  size=<n>         the input's side in cells/pixels: the maze's (default 20) or the pool
                   render's (default 28); smaller is a cheaper version of the task
  feedforward, feedforward_skip, recurrent, recurrent_skip
                   the conv-net baselines of the same depth (planning/conv_baselines.py)
  smoke            a tiny budget and model (tests)

  python scripts/run.py --config=configs/predictron.py:maze,rgl --workdir=runs/predictron
"""

import ml_collections

from configs import common
from configs import variants


def _base() -> ml_collections.ConfigDict:
  config = common.run_config()
  config.total_examples = 5_000_000
  config.log_interval_s = 10.0
  config.checkpoint_interval_s = 120.0

  config.data = ml_collections.ConfigDict()
  config.data.name = 'mazes'
  config.data.kwargs = ml_collections.ConfigDict({'batch_size': 100, 'size': 20})

  config.model = ml_collections.ConfigDict()
  config.model.name = 'predictron'
  config.model.depth = 16
  config.model.shared_core = True
  config.model.learn_reward_discount = True
  config.model.learn_lambda = True
  config.model.usage_weighting = True
  config.model.consistency_updates = 0

  # The paper clips nothing.
  config.optimizer = common.adam_config(learning_rate=1e-3, max_grad_norm=0.0)
  config.runtime = common.supervised_runtime(updates_per_call=10, num_eval_batches=10)
  return config


def _maze(config):
  return config


def _pool(config):
  config.data.name = 'pool'
  config.data.kwargs = ml_collections.ConfigDict({'batch_size': 100})
  return config


def _flags(learn_reward_discount, learn_lambda):
  def apply(config):
    config.model.learn_reward_discount = learn_reward_discount
    config.model.learn_lambda = learn_lambda
    return config
  return apply


def _set(field, value):
  def apply(config):
    config.model[field] = value
    return config
  return apply


def _baseline(recurrent, skip):
  def apply(config):
    depth = config.model.depth
    config.model = ml_collections.ConfigDict(
        {'name': 'conv_baseline', 'depth': depth, 'recurrent': recurrent, 'skip': skip})
    return config
  return apply


def _integer(variant, value, minimum):
  return variants.integer('configs/predictron.py', variant, value, lambda x: x >= minimum,
                          f'an integer ≥ {minimum}')


def _depth(value):
  return _set('depth', _integer('depth', value, 1))


def _consistency(value):
  return _set('consistency_updates', _integer('consistency', value, 0))


def _batch(value):
  batch_size = _integer('batch', value, 1)

  def apply(config):
    config.data.kwargs.batch_size = batch_size
    return config
  return apply


def _size(value):
  size = _integer('size', value, 1)

  def apply(config):
    field = 'size' if config.data.name == 'mazes' else 'image_size'
    config.data.kwargs[field] = size
    return config
  return apply


def _smoke(config):
  config.model.depth = 2
  config.data.kwargs.batch_size = 4
  if 'size' in config.data.kwargs:
    config.data.kwargs.size = 6
  config.runtime.updates_per_call = 2
  config.runtime.num_eval_batches = 2
  config.total_examples = 4 * 2 * config.data.kwargs.batch_size
  config.log_interval_s = 0.01
  config.checkpoint_interval_s = 0.01
  return config


VARIANTS = {
    'maze': _maze,
    'pool': _pool,
    'rgl': _flags(True, True),
    'rg': _flags(True, False),
    'l': _flags(False, True),
    'none': _flags(False, False),
    'no_usage': _set('usage_weighting', False),
    'unshared': _set('shared_core', False),
    'feedforward': _baseline(False, False),
    'feedforward_skip': _baseline(False, True),
    'recurrent': _baseline(True, False),
    'recurrent_skip': _baseline(True, True),
    'smoke': _smoke,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The base config with the comma-separated variants in ``arg`` applied in order."""
  return variants.apply(_base(), arg, VARIANTS, default='maze', source='configs/predictron.py',
                        parameterised={'depth': _depth, 'consistency': _consistency,
                                       'batch': _batch, 'size': _size})
