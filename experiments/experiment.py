"""One entry point for every experiment: validate a config, then train it in a workdir.

``config.runtime.name`` picks the runtime: ``on_device``, ``actor_learner``, ``async``
(``experiments/async_workers.py``) or ``supervised`` (``experiments/<runtime>.py``). ``scripts/run.py`` calls these two
functions; so can a notebook.
"""

from experiments import actor_learner
from experiments import async_workers
from experiments import on_device
from experiments import supervised
from experiments import validation

RUNTIMES = {
    'on_device': on_device,
    'actor_learner': actor_learner,
    'async': async_workers,
    'supervised': supervised,
}

validate = validation.validate


def train(config, workdir, **kwargs):
  """Trains (or resumes) the experiment in ``workdir`` with its runtime
  (``experiments.train.run``'s keyword arguments: ``print_fn``, ``stop``)."""
  return RUNTIMES[config.runtime.name].train(config, workdir, **kwargs)
