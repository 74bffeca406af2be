"""Memory models on algorithmic tasks, trained by the supervised runtime.

Variants (``--config=configs/memory_tasks.py:VARIANTS``, comma-separated, in order):
  lstm_copy (default)  an LSTM (256) on the copy task: 8-bit vectors, lengths 1-10.
      python scripts/run.py --config=configs/memory_tasks.py:lstm_copy --workdir=runs/copy
      2 CPU cores. Not yet measured at this budget: the memory models' reproduction
      (results/memory/, to come) will state the cost it reaches. A test trains a small
      LSTM on lengths 1-3 to under half the chance cost in 500 updates.
  smoke                a few updates of a tiny run (tests).

Training: Adam 1e-4 as the SAM paper's copy experiments (Rae et al. 2016, §4), batches of
16 sequences, global-norm clip 10. The cost is the sigmoid cross-entropy of the copied
bits in bits per sequence; ``bit_errors_per_sequence`` counts wrong bits.
"""

import ml_collections

from configs import common
from configs import variants


def _base() -> ml_collections.ConfigDict:
  config = common.run_config()
  config.total_examples = 2_000_000
  config.log_interval_s = 10.0
  config.checkpoint_interval_s = 120.0

  config.data = ml_collections.ConfigDict()
  config.data.name = 'copy'
  config.data.kwargs = ml_collections.ConfigDict(
      {'batch_size': 16, 'bits': 8, 'min_length': 1, 'max_length': 10})

  config.model = ml_collections.ConfigDict()
  config.model.name = 'sequence'
  config.model.core = 'lstm'
  config.model.lstm_size = 256

  config.optimizer = common.optimizer_config()
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-4
  config.optimizer.schedule = 'constant'
  config.optimizer.eps = 1e-8
  config.optimizer.max_grad_norm = 10.0

  config.runtime = ml_collections.ConfigDict()
  config.runtime.name = 'supervised'
  config.runtime.updates_per_call = 20
  config.runtime.num_eval_batches = 8
  config.runtime.num_devices = 1  # 0: all devices present
  return config


def _lstm_copy(config):
  return config


def _smoke(config):
  config.model.lstm_size = 16
  config.data.kwargs.max_length = 4
  config.runtime.updates_per_call = 2
  config.runtime.num_eval_batches = 2
  config.total_examples = 4 * 2 * config.data.kwargs.batch_size
  config.log_interval_s = 0.01
  config.checkpoint_interval_s = 0.01
  return config


VARIANTS = {
    'lstm_copy': _lstm_copy,
    'smoke': _smoke,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The base config with the comma-separated variants in ``arg`` applied in order."""
  return variants.apply(_base(), arg, VARIANTS, default='lstm_copy',
                        source='configs/memory_tasks.py')
