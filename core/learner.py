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
  """
  init: Callable[[PyTree], LearnerState]
  step: Callable[[LearnerState, PyTree, jax.Array], tuple[LearnerState, dict]]


def make_learner(loss: LossFn, optimizer: optax.GradientTransformation) -> Learner:
  """The default learner: one optimiser step on the gradient of ``loss``.

  Adds ``grad_norm`` (the global norm before any clipping) to the loss's metrics.
  """

  def init(params) -> LearnerState:
    return LearnerState(params, optimizer.init(params), jnp.zeros((), jnp.int32))

  def step(state: LearnerState, batch, key):
    grads, metrics = jax.grad(loss, has_aux=True)(state.params, batch, key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, grad_norm=optax.tree.norm(grads))
    return state._replace(params=params, opt_state=opt_state,
                          update=state.update + 1), metrics

  return Learner(init=init, step=step)


def learner_for(model, optimizer: optax.GradientTransformation) -> Learner:
  """``model.make_learner(optimizer)`` where the model (an ``Agent`` or a ``Model``)
  supplies one, else the default learner of ``model.loss``."""
  if getattr(model, 'make_learner', None) is not None:
    return model.make_learner(optimizer)
  return make_learner(model.loss, optimizer)
