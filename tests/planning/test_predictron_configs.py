"""configs/predictron.py: smoke runs of the predictron and a baseline train through the
supervised runtime; bad model fields are named."""

import pytest

from configs import predictron as configs
from core import config as config_lib
from core import metrics as metrics_lib
from experiments import experiment


@pytest.mark.parametrize('variants', ['maze,consistency=1,smoke',
                                      'maze,recurrent_skip,smoke'])
def test_smoke_variants_train(tmp_path, variants):
  config = configs.get_config(variants)
  experiment.validate(config)
  result = experiment.train(config, tmp_path, print_fn=lambda s: None)
  assert result.updates > 0
  last = metrics_lib.read_metrics(tmp_path / 'metrics.jsonl')[-1]
  key = 'eval_rmse_lambda' if config.model.name == 'predictron' else 'eval_rmse'
  assert last[key] >= 0.0


def test_variants_set_the_model():
  config = configs.get_config('maze,rg,unshared,no_usage,depth=4')
  assert (config.model.learn_lambda, config.model.shared_core, config.model.usage_weighting,
          config.model.depth) == (False, False, False, 4)
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
