"""Config blocks that every experiment family shares."""

import ml_collections


def run_config() -> ml_collections.ConfigDict:
  """Fields every experiment has: its seed, how often it logs and checkpoints."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.log_interval_s = 5.0
  config.checkpoint_interval_s = 30.0
  return config


def optimizer_config() -> ml_collections.ConfigDict:
  """RMSProp as IMPALA configures it (ε inside the square root), linear decay to 0."""
  config = ml_collections.ConfigDict()
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = 'rmsprop'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'linear'
  config.optimizer.decay = 0.99
  config.optimizer.eps = 0.01
  config.optimizer.momentum = 0.0
  config.optimizer.centered = False
  config.optimizer.b1 = 0.9
  config.optimizer.b2 = 0.999
  config.optimizer.max_grad_norm = 40.0
  return config.optimizer


# The memory cores of memory/cores.py ('lstm' is the controller alone).
MEMORY_CORES = ('lstm', 'ntm', 'dnc', 'dam', 'sam', 'sdnc')


def memory_config(*, num_rows: int = 128, word_size: int = 32, num_reads: int = 4,
                  k: int = 4) -> ml_collections.ConfigDict:
  """A memory core's sizes (``memory/cores.make_core``): rows, word size, read heads,
  rows read per head (SAM, SDNC), the row finder (SAM, SDNC: exact | lsh, see
  memory/index.py) and the SDNC's link entries per row."""
  return ml_collections.ConfigDict(
      {'num_rows': num_rows, 'word_size': word_size, 'num_reads': num_reads, 'k': k,
       'index': 'exact', 'links_per_row': 8})


def adam_config(*, learning_rate: float, max_grad_norm: float) -> ml_collections.ConfigDict:
  """Adam at a constant learning rate (ε 1e-8), clipped to ``max_grad_norm`` (0: not)."""
  optimizer = optimizer_config()
  optimizer.name = 'adam'
  optimizer.learning_rate = learning_rate
  optimizer.schedule = 'constant'
  optimizer.eps = 1e-8
  optimizer.max_grad_norm = max_grad_norm
  return optimizer


def supervised_runtime(*, updates_per_call: int,
                       num_eval_batches: int) -> ml_collections.ConfigDict:
  """The supervised runtime block (core/runtime/supervised.py), on one device."""
  return ml_collections.ConfigDict({
      'name': 'supervised', 'updates_per_call': updates_per_call,
      'num_eval_batches': num_eval_batches,
      'num_devices': 1})  # 0: all devices present
