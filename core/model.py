"""The supervised model interface and its data sources: pure functions of keys.

A model trained on batches rather than environments (the predictron on mazes and pool,
a memory model on copy or recall) is a ``Model``; its batches come from a ``DataSource``
whose batches are a pure function of a key and of the source's own state (a curriculum
level), so a run is reproducible and resumes exactly from a checkpoint.
"""

from typing import Any, Callable, NamedTuple

import jax
import optax

from core import learner as learner_lib

PyTree = Any


class Model(NamedTuple):
  """Attributes:
    init: ``(key, example_batch) -> params``.
    loss: ``(params, batch, key) -> (loss, metrics)``; the metrics are scalars.
    make_learner: optional ``(optimizer) -> core.learner.Learner`` (as ``Agent``'s).
  """
  init: Callable[[jax.Array, PyTree], PyTree]
  loss: Callable[[PyTree, PyTree, jax.Array], tuple[jax.Array, dict]]
  make_learner: Callable[[optax.GradientTransformation], learner_lib.Learner] | None = None


class DataSource(NamedTuple):
  """Attributes:
    init: ``() -> data_state`` (``()`` for a stateless source).
    sample: ``(data_state, key) -> batch``.
    update: ``(data_state, metrics) -> data_state``, after each learner step: what a
      curriculum uses to advance (the identity for a stateless source).
    batch_size: examples in a batch.
    batch_axis: the axis of every batch leaf that indexes examples: 0 for ``[B, ...]``
      data, 1 for time-major sequences ``[T, B, ...]``. Devices split batches along it.
  """
  init: Callable[[], PyTree]
  sample: Callable[[PyTree, jax.Array], PyTree]
  update: Callable[[PyTree, dict], PyTree]
  batch_size: int
  batch_axis: int = 0


def stateless(sample: Callable[[jax.Array], PyTree], *, batch_size: int,
              batch_axis: int = 0) -> DataSource:
  """A ``DataSource`` whose batches depend on the key alone."""
  return DataSource(init=lambda: (),
                    sample=lambda state, key: sample(key),
                    update=lambda state, metrics: state,
                    batch_size=batch_size, batch_axis=batch_axis)


class SemiSupervisedBatch(NamedTuple):
  """A labelled batch and ``n`` more batches whose targets go unused, stacked on a new
  axis right after the batch axis (``[B, n, ...]`` for batch axis 0), so that devices
  split them along the batch axis like the labelled batch."""
  labelled: PyTree
  unlabelled: PyTree


def with_unlabelled(source: DataSource, num_batches: int) -> DataSource:
  """``source`` whose batches also carry ``num_batches`` fresh batches as unlabelled
  data (for consistency updates): ``SemiSupervisedBatch``. A stateless source only."""
  if num_batches < 1:
    raise ValueError(f'num_batches must be at least 1, got {num_batches}')

  def sample(state, key):
    labelled_key, unlabelled_key = jax.random.split(key)
    unlabelled = jax.vmap(lambda k: source.sample(state, k),
                          out_axes=source.batch_axis + 1)(
        jax.random.split(unlabelled_key, num_batches))
    return SemiSupervisedBatch(source.sample(state, labelled_key), unlabelled)

  return DataSource(init=source.init, sample=sample, update=source.update,
                    batch_size=source.batch_size, batch_axis=source.batch_axis)
