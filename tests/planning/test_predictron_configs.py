"""configs/predictron.py: smoke runs of the predictron and a baseline train through the
supervised runtime; bad model fields are named."""

import pytest

from configs import predictron as configs
from core import config as config_lib
from core import metrics as metrics_lib
from experiments import experiment
from experiments import predictron_adaptive


@pytest.mark.parametrize('variants', [
    # Slow: consistency updates also run in test_predictron.py.
    pytest.param('maze,consistency=1,smoke', marks=pytest.mark.slow),
    'maze,recurrent_skip,smoke'])
def test_smoke_variants_train(tmp_path, variants):
  config = configs.get_config(variants)
  experiment.validate(config)
  result = experiment.train(config, tmp_path, print_fn=lambda s: None)
  assert result.updates > 0
  last = metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')[-1]
  key = 'eval_rmse_lambda' if config.model.name == 'predictron' else 'eval_rmse'
  assert last[key] >= 0.0
  if config.model.name == 'predictron':
    report = predictron_adaptive.evaluate(tmp_path, thresholds=(0.0, 2.0), num_batches=2)
    assert report['mean_depth'] == [config.model.depth, 0.0]
    assert report['examples'] == 2 * config.data.kwargs.batch_size
  else:
    with pytest.raises(ValueError, match='shared core'):
      predictron_adaptive.evaluate(tmp_path)


def test_variants_set_the_model():
  config = configs.get_config('maze,rg,unshared,no_usage,depth=4')
  assert (config.model.learn_lambda, config.model.shared_core, config.model.usage_weighting,
          config.model.depth) == (False, False, False, 4)
  scaled = configs.get_config('maze,batch=32,size=8')
  assert (scaled.data.kwargs.batch_size, scaled.data.kwargs.size) == (32, 8)
  assert configs.get_config('pool,size=14').data.kwargs.image_size == 14
  baseline = configs.get_config('depth=8,feedforward_skip')
  assert (baseline.model.name, baseline.model.depth, baseline.model.skip) == (
      'conv_baseline', 8, True)


@pytest.mark.parametrize('field, value, message', [
    ('depth', 0, 'a positive integer'),
    ('consistency_updates', -1, 'a non-negative integer'),
])
def test_bad_model_fields_are_named(field, value, message):
  config = configs.get_config('maze,smoke')
  config.model[field] = value
  with pytest.raises(config_lib.ConfigError, match=f'model.{field}: expected {message}'):
    experiment.validate(config)


@pytest.mark.parametrize('variant, expected', [
    ('depth=0', 'an integer ≥ 1'), ('depth=4.5', 'an integer ≥ 1'),
    ('consistency=-1', 'an integer ≥ 0'), ('batch=x', 'an integer ≥ 1'),
    ('size=', 'an integer ≥ 1'),
])
def test_bad_variant_values_are_refused_naming_the_variant(variant, expected):
  with pytest.raises(ValueError, match=f"configs/predictron.py variant '{variant}': "
                                       f'expected {expected}'):
    configs.get_config(f'maze,{variant}')
