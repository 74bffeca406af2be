"""Memory models on algorithmic tasks, trained by the supervised runtime.

Variants (``--config=configs/memory_tasks.py:VARIANTS``, comma-separated, in order):
  <core>_<task>        a memory core on a task, e.g. sam_copy, dnc_recall, ntm_sort:
                       cores lstm, ntm, dnc, dam, sam, sdnc (memory/cores.py); tasks
                       copy (8-bit vectors, lengths 1-10), recall (associative recall,
                       2-6 items of 3 six-bit vectors), sort (priority sort, 20 inputs,
                       the 16 highest out), oneshot (one-shot classification episodes
                       of 5 classes x 10 images, on scikit-learn's digits as a stand-in
                       for Omniglot; envs/one_shot.py reads Omniglot from a path).
      python scripts/run.py --config=configs/memory_tasks.py:sam_copy --workdir=runs/sam_copy
  lstm_copy (default)  an LSTM (256) on copy. A test trains a small LSTM on lengths 1-3 to
                       under half the chance cost in 500 updates.
  curriculum           after a task: its lengths under the SAM paper's exponential
                       curriculum (envs/curriculum.py), level 1 doubling up to 64; the
                       steps after each batch's longest sequence are skipped.
  smoke                a few updates of a tiny run (tests).

The memory cores use the SAM paper's set-up: an LSTM controller of 100 units, words of
32, 4 read heads, K = 4 rows per head for SAM (and per read mode for the SDNC, whose
link matrix keeps 8 entries per row); 128 rows for these small tasks.

Training: Adam 1e-4 as the SAM paper's copy experiments (Rae et al. 2016, §4), batches of
16 sequences, global-norm clip 10. The cost is the sigmoid cross-entropy of the target
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
  config.model.core = 'lstm'      # memory/cores.py: lstm | ntm | dnc | dam | sam | sdnc
  config.model.lstm_size = 256    # the controller's units
  config.model.memory = common.memory_config()
  # bits (sigmoid per target bit) | classes (softmax over one-hot targets: one-shot)
  config.model.output = 'bits'
  # Steps per chunk skipped after a batch's last scored step (0: run every step); the
  # curriculum sets it, since its batches are padded to the cap (memory/sequence_model.py).
  config.model.skip_chunk = 0

  config.optimizer = common.adam_config(learning_rate=1e-4, max_grad_norm=10.0)
  config.runtime = common.supervised_runtime(updates_per_call=20, num_eval_batches=8)
  return config


def _lstm_copy(config):
  return config


# Each task's data block (envs/task_registry.py) and its curriculum's.
_TASKS = {
    'copy': ('copy', {'batch_size': 16, 'bits': 8, 'min_length': 1, 'max_length': 10}),
    'recall': ('associative_recall', {'batch_size': 16, 'bits': 6, 'item_length': 3,
                                      'min_items': 2, 'max_items': 6}),
    'sort': ('priority_sort', {'batch_size': 16, 'bits': 8, 'min_length': 20,
                               'max_length': 20, 'num_outputs': 16}),
    # The stand-in for Omniglot (which cannot be downloaded here): scikit-learn's digits.
    'oneshot': ('one_shot_digits', {'batch_size': 16, 'num_classes': 5,
                                    'samples_per_class': 10}),
}
_CURRICULA = {
    'copy': {'batch_size': 16, 'bits': 8, 'initial_level': 1, 'max_level': 64},
    'associative_recall': {'batch_size': 16, 'bits': 6, 'item_length': 3,
                           'initial_level': 2, 'max_level': 64},
    'priority_sort': {'batch_size': 16, 'bits': 8, 'num_outputs': 16, 'initial_level': 1,
                      'max_level': 64},
}


def _core_on_task(core, task):
  def apply(config):
    config.model.core = core
    if core != 'lstm':
      config.model.lstm_size = 100
    config.data.name, kwargs = _TASKS[task]
    config.data.kwargs = ml_collections.ConfigDict(kwargs)
    config.model.output = 'classes' if task == 'oneshot' else 'bits'
    return config
  return apply


def _curriculum(config):
  if config.data.name not in _CURRICULA:
    raise ValueError(f'configs/memory_tasks.py: curriculum: no curriculum for task '
                     f'{config.data.name!r}; expected one of {sorted(_CURRICULA)}')
  kwargs = dict(_CURRICULA[config.data.name], batch_size=config.data.kwargs.batch_size)
  config.data.name += '_curriculum'
  config.data.kwargs = ml_collections.ConfigDict(kwargs)
  config.model.skip_chunk = 16
  return config


def _smoke(config):
  config.model.lstm_size = 16
  config.model.memory.num_rows = 8
  config.model.memory.word_size = 4
  config.model.memory.num_reads = 2
  config.model.memory.k = 2
  for field, small in (('max_length', 4), ('min_length', 1), ('max_items', 3),
                       ('min_items', 2), ('num_outputs', 2), ('max_level', 4),
                       ('num_classes', 2), ('samples_per_class', 2)):
    if field in config.data.kwargs:
      config.data.kwargs[field] = small
  config.runtime.updates_per_call = 2
  config.runtime.num_eval_batches = 2
  config.total_examples = 4 * 2 * config.data.kwargs.batch_size
  config.log_interval_s = 0.01
  config.checkpoint_interval_s = 0.01
  return config


VARIANTS = {
    'lstm_copy': _lstm_copy,
    **{f'{core}_{task}': _core_on_task(core, task) for core in common.MEMORY_CORES for task in _TASKS
       if (core, task) != ('lstm', 'copy')},
    'curriculum': _curriculum,
    'smoke': _smoke,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The base config with the comma-separated variants in ``arg`` applied in order."""
  return variants.apply(_base(), arg, VARIANTS, default='lstm_copy',
                        source='configs/memory_tasks.py')
