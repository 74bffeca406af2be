"""The recurrent-core interface that every memory model satisfies (LSTM, DNC, SAM, MERLIN).

A core is a bundle of pure functions, so any of them drops into an agent or a sequence
model unchanged::

  init(key, x [B, ...]) -> params
  initial_state(params, key, batch_size) -> state         the state an episode starts from
  step(params, state, x [B, ...]) -> (state, y [B, ...])  one time step (carry first)
  reset(params, state, first [B]) -> state                rows where ``first`` start over

``initial_state`` takes the parameters and a key because some cores learn their initial
state or draw it at random (a DNC's initial memory). ``reset`` is the core's own: the
default (``core.unroll.reset_rows``) replaces the rows that start an episode only when some row does,
under ``lax.cond``, so a step where no episode starts costs nothing; a core whose state
is large (a sparse memory of a million rows) supplies a reset that touches only what it
must. ``reset`` takes no key: a core whose episodes start from a random state keeps
its own key in its state. ``unroll`` runs a core over ``[T, B]`` inputs with those
resets.
"""

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax

from core import unroll as unroll_lib

PyTree = Any


class RecurrentCore(NamedTuple):
  """Pure functions of a recurrent core (see the module docstring)."""
  init: Callable[[jax.Array, PyTree], PyTree]
  initial_state: Callable[[PyTree, jax.Array | None, int], PyTree]
  step: Callable[[PyTree, PyTree, PyTree], tuple[PyTree, PyTree]]
  reset: Callable[[PyTree, PyTree, jax.Array], PyTree]


def from_flax(module: nn.Module, zero_state: Callable[[int], PyTree]) -> RecurrentCore:
  """A core from a flax cell ``module(state, x) -> (state, y)`` whose episodes start from
  ``zero_state(batch_size)`` (e.g. ``flax.linen.OptimizedLSTMCell``)."""

  def init(key, x):
    return module.init(key, zero_state(jax.tree.leaves(x)[0].shape[0]), x)

  def initial_state(params, key, batch_size):
    del params, key
    return zero_state(batch_size)

  def step(params, state, x):
    return module.apply(params, state, x)

  def reset(params, state, first):
    return unroll_lib.reset_rows(first, initial_state(params, None, first.shape[0]), state)

  return RecurrentCore(init=init, initial_state=initial_state, step=step, reset=reset)


def unroll(core: RecurrentCore, params: PyTree, state: PyTree, inputs: PyTree,
           first: jax.Array, **unroll_kwargs) -> unroll_lib.UnrollOutput:
  """Runs ``core`` over ``inputs [T, B, ...]``, resetting rows where ``first [T, B]``.

  ``unroll_kwargs`` are ``core.unroll.unroll``'s (``remat``, ``chunk_size``, ...).
  """
  return unroll_lib.unroll(
      lambda s, x: core.step(params, s, x), state, inputs, first,
      reset_fn=lambda s, first_t: core.reset(params, s, first_t), **unroll_kwargs)
