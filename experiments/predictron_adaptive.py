"""The adaptive-depth evaluation of a trained predictron run (beyond the paper).

``planning.predictron.adaptive_lambda_preturn`` stops rolling the core once the weight left
for the later preturns falls below a threshold; this evaluates a run's latest checkpoint
that way on fresh batches of its task, for several thresholds, beside the full K steps.
"""

import jax

from envs import task_registry
from experiments import evaluation
from experiments import models as model_registry
from experiments import supervised
from planning import predictron

THRESHOLDS = (0.5, 0.1, 0.01, 0.001)


def evaluate(workdir, *, thresholds=THRESHOLDS, num_batches: int = 10,
             seed: int = 0) -> dict:
  """``{'thresholds', 'mean_depth', 'rmse', 'full_rmse', 'examples'}`` (JSON-ready) of the latest
  checkpoint in ``workdir`` over ``num_batches`` fresh batches (keys from ``seed``).

  Raises:
    ValueError: if the run is not a predictron with a shared core.
  """
  config = evaluation.load_config(workdir)
  if config.model.name != 'predictron' or not config.model.shared_core:
    raise ValueError(f'{workdir}: adaptive depth needs a predictron with a shared core '
                     f'(model.name {config.model.name!r})')
  runtime = supervised.build(config)
  params = evaluation.restore(workdir, runtime.init(jax.random.PRNGKey(config.seed))
                              ).learner.params
  data = task_registry.make(config.data.name, **config.data.kwargs.to_dict())
  batches = [data.sample(data.init(), key)
             for key in jax.random.split(jax.random.PRNGKey(seed), num_batches)]
  net = model_registry.predictron_net(batches[0].targets.shape[-1], config.model)
  report = predictron.adaptive_depth_report(net, params, batches, thresholds)
  fields = {k: list(v) if isinstance(v, tuple) else v for k, v in report._asdict().items()}
  return dict(fields, examples=num_batches * data.batch_size)
