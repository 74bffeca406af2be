"""Every memory core trains through configs/memory_tasks.py; bad memory fields are named."""

import pytest

from configs import memory_tasks
from core import config as config_lib
from experiments import experiment


# The dense models compile slowly (tens of seconds each on 2 cores): slow, not default.
@pytest.mark.parametrize('variants', [
    'sam_recall,curriculum,smoke',
    pytest.param('sdnc_oneshot,smoke', marks=pytest.mark.slow),
    pytest.param('sam_copy,smoke', marks=pytest.mark.slow),
    pytest.param('dnc_recall,smoke', marks=pytest.mark.slow),
    pytest.param('ntm_sort,smoke', marks=pytest.mark.slow),
    pytest.param('dam_copy,smoke', marks=pytest.mark.slow)])
def test_smoke_variants_train(tmp_path, variants):
  config = memory_tasks.get_config(variants)
  experiment.validate(config)
  result = experiment.train(config, tmp_path, print_fn=lambda s: None)
  assert result.updates > 0


@pytest.mark.slow  # the index's model step is covered by test_sam.py in the default run
def test_sam_with_the_lsh_index_trains(tmp_path):
  config = memory_tasks.get_config('sam_copy,smoke')
  config.model.memory.index = 'lsh'
  experiment.validate(config)
  assert experiment.train(config, tmp_path, print_fn=lambda s: None).updates > 0


@pytest.mark.parametrize('field, value, message', [
    ('k', 9, 'at most model.memory.num_rows'),
    ('index', 'faiss', "one of \\['exact', 'lsh'\\]"),
    ('num_reads', 0, 'a positive integer'),
])
def test_bad_memory_fields_are_named(field, value, message):
  config = memory_tasks.get_config('sam_copy,smoke')
  config.model.memory[field] = value
  with pytest.raises(config_lib.ConfigError, match=f'model.memory.{field}: expected {message}'):
    experiment.validate(config)



def test_the_curriculum_skips_padded_steps_and_bad_chunks_are_named():
  assert memory_tasks.get_config('sam_copy').model.skip_chunk == 0
  config = memory_tasks.get_config('sam_copy,curriculum')
  assert config.model.skip_chunk == 16
  config.model.skip_chunk = -1
  with pytest.raises(config_lib.ConfigError,
                     match='model.skip_chunk: expected a non-negative integer'):
    experiment.validate(config)
