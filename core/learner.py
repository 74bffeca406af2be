"""The one learner step that every runtime calls.

  step(LearnerState, batch, key) -> (LearnerState, metrics)

It is pure and jittable. ``make_learner`` builds the default one from a loss
``loss(params, batch, key) -> (loss, metrics)`` and an optax optimiser. A model that needs
more (two optimisers through ``optax.multi_transform``, target parameters, statistics that
are not parameters) supplies its own ``Learner`` and keeps what it needs in
``LearnerState.extra``; the runtimes treat the state as opaque apart from ``params`` (what
the actors act with) and ``update`` (the number of steps taken).
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

PyTree = Any
LossFn = Callable[[PyTree, PyTree, jax.Array], tuple[jax.Array, dict]]


class LearnerState(NamedTuple):
  """What a learner carries from step to step (checkpointed whole).

  Attributes:
    params: the parameters the model acts or predicts with.
    opt_state: the optimiser's state.
    update: int32 number of learner steps taken.
    extra: anything else a custom learner keeps (target parameters, PopArt statistics);
      ``()`` for the default learner.
  """
  params: PyTree
  opt_state: PyTree
  update: jax.Array
  extra: PyTree = ()


class Learner(NamedTuple):
  """Attributes:
    init: ``(params) -> LearnerState``.
    step: ``(LearnerState, batch, key) -> (LearnerState, metrics)``, pure and jittable;
      ``metrics`` is a dict of scalars.
    gradient: ``(LearnerState, batch, key) -> (grads, metrics)``, the first half of
      ``step``: the gradient at ``state.params`` (and whatever else of the state it
      reads, e.g. target parameters). None where the learner cannot be split.
    apply: ``(LearnerState, grads) -> LearnerState``, the second half: the optimiser
      step (and any bookkeeping such as a target-network refresh).
      ``step(s, b, k) == apply(s, gradient(s, b, k)[0])``. The asynchronous runtime
      needs the split: a worker takes the gradient at its local copy of the parameters
      and applies it to the shared ones, which other workers moved in the meantime.
  """
  init: Callable[[PyTree], LearnerState]
  step: Callable[[LearnerState, PyTree, jax.Array], tuple[LearnerState, dict]]
  gradient: Callable[[LearnerState, PyTree, jax.Array], tuple[PyTree, dict]] | None = None
  apply: Callable[[LearnerState, PyTree], LearnerState] | None = None


def split_learner(init: Callable[[PyTree], LearnerState],
                  gradient: Callable[[LearnerState, PyTree, jax.Array], tuple[PyTree, dict]],
                  apply: Callable[[LearnerState, PyTree], LearnerState]) -> Learner:
  """A ``Learner`` whose ``step`` is ``apply`` after ``gradient``."""

  def step(state: LearnerState, batch, key):
    grads, metrics = gradient(state, batch, key)
    return apply(state, grads), metrics

  return Learner(init=init, step=step, gradient=gradient, apply=apply)


def optimizer_apply(optimizer: optax.GradientTransformation
                    ) -> Callable[[LearnerState, PyTree], LearnerState]:
  """``apply`` of one ``optimizer`` step that counts the update."""

  def apply(state: LearnerState, grads) -> LearnerState:
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return state._replace(params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state, update=state.update + 1)

  return apply


def make_learner(loss: LossFn, optimizer: optax.GradientTransformation) -> Learner:
  """The default learner: one optimiser step on the gradient of ``loss``.

  Adds ``grad_norm`` (the global norm before any clipping) to the loss's metrics.
  """

  def init(params) -> LearnerState:
    return LearnerState(params, optimizer.init(params), jnp.zeros((), jnp.int32))

  def gradient(state: LearnerState, batch, key):
    grads, metrics = jax.grad(loss, has_aux=True)(state.params, batch, key)
    return grads, dict(metrics, grad_norm=optax.tree.norm(grads))

  return split_learner(init, gradient, optimizer_apply(optimizer))


def learner_for(model, optimizer: optax.GradientTransformation) -> Learner:
  """``model.make_learner(optimizer)`` where the model (an ``Agent`` or a ``Model``)
  supplies one, else the default learner of ``model.loss``."""
  if getattr(model, 'make_learner', None) is not None:
    return model.make_learner(optimizer)
  return make_learner(model.loss, optimizer)
