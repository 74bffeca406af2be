"""``lax.scan`` unroll of any recurrent cell, with resets, rematerialisation and truncated BPTT.

Every recurrent core in recurrax (LSTM, DNC, SAM, MERLIN's memory) is a cell
``cell_fn(state, x_t) -> (state, y_t)`` (flax's carry-first convention), so one unroll
serves them all.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

PyTree = Any
CellFn = Callable[[PyTree, PyTree], tuple[PyTree, PyTree]]


class UnrollOutput(NamedTuple):
  outputs: PyTree      # [T, B, ...] per-step outputs of the cell
  final_state: PyTree  # [B, ...] state after the last step


def reset_where(first: jax.Array, reset_state: PyTree, state: PyTree) -> PyTree:
  """Selects ``reset_state`` for batch rows where ``first`` ([B] bool) is set."""

  def select(r, s):
    mask = jnp.reshape(first, first.shape + (1,) * (s.ndim - first.ndim))
    return jnp.where(mask, r, s)

  return jax.tree.map(select, reset_state, state)


def reset_rows(first: jax.Array, reset_state: PyTree, state: PyTree) -> PyTree:
  """``reset_where`` run under ``lax.cond`` only when some row of ``first`` is set, so a
  step where no episode starts does not touch the state. (Under ``vmap`` over a batch of
  unrolls the cond becomes a select and both sides run.)"""
  return jax.lax.cond(jnp.any(first), lambda: reset_where(first, reset_state, state),
                      lambda: state)


def blend_rows(first: jax.Array, reset_state: PyTree, state: PyTree) -> PyTree:
  """``reset_where`` whose backward pass keeps only the ``[B]`` mask.

  A select keeps its predicate broadcast to the leaf's shape for the backward pass: for a
  memory of N×W per row that is a state-sized mask per step. Here a floating leaf is
  ``keep · state + (1 − keep) · reset`` with ``keep`` a per-row scale (a batched product,
  whose backward needs only ``keep``); other leaves carry no gradient and use a select.
  The states must be finite (``0 · inf`` is NaN).
  """
  keep = jnp.logical_not(first)

  def blend(r, s):
    if not jnp.issubdtype(s.dtype, jnp.inexact):
      mask = jnp.reshape(keep, keep.shape + (1,) * (s.ndim - keep.ndim))
      return jnp.where(mask, s, r)
    k = keep.astype(s.dtype)
    return jnp.einsum('b,b...->b...', k, s) + jnp.einsum('b,b...->b...', 1 - k, r)

  return jax.tree.map(blend, reset_state, state)


def reset_large_rows(first: jax.Array, reset_state: PyTree, state: PyTree) -> PyTree:
  """``blend_rows`` under ``lax.cond``: the reset for cores with large states (memories),
  which costs nothing on steps where no row starts and keeps O(B) per step for the
  backward pass."""
  return jax.lax.cond(jnp.any(first), lambda: blend_rows(first, reset_state, state),
                      lambda: state)


def _check_time_major(inputs, first):
  first = jnp.asarray(first)
  if first.ndim < 1:
    raise ValueError(f'unroll: first must be [T, B] (time-major), got shape {first.shape}')
  for leaf in jax.tree.leaves(inputs):
    if leaf.shape[:first.ndim] != first.shape:
      raise ValueError(
          f'unroll: inputs have leading shape {leaf.shape[:first.ndim]} but first has '
          f'shape {first.shape}; expected inputs [T, B, ...] matching first [T, B]')
  return first


def unroll(cell_fn: CellFn,
           initial_state: PyTree,
           inputs: PyTree,
           first: jax.Array,
           reset_state: PyTree | None = None,
           *,
           reset_fn: Callable[[PyTree, jax.Array], PyTree] | None = None,
           remat: bool = False,
           remat_policy: Callable | None = None,
           chunk_size: int | None = None,
           active_steps: jax.Array | None = None,
           skip_chunk: int = 16) -> UnrollOutput:
  """Unrolls ``cell_fn`` over time, resetting the state where an episode starts.

  Before step ``t`` the state of every batch row with ``first[t]`` set is replaced by
  the matching row of ``reset_state``, so an unroll across an episode boundary equals two
  separate unrolls.

  Args:
    cell_fn: ``(state, x_t) -> (state, y_t)`` for one time step of a batch.
    initial_state: state before step 0, leaves ``[B, ...]``.
    inputs: pytree of ``[T, B, ...]`` arrays.
    first: ``[T, B]`` bool; set where ``inputs[t]`` starts an episode.
    reset_state: the state an episode starts from (default: zeros like
      ``initial_state``). The rows are replaced under ``lax.cond`` only on steps where
      some row starts an episode.
    reset_fn: ``(state, first_t [B]) -> state`` instead of ``reset_state``: the core's
      own reset (``core.recurrent.RecurrentCore.reset``), for states too large to select
      over on every step.
    remat: recompute each step's activations in the backward pass instead of storing
      them (``jax.checkpoint``), trading compute for memory.
    remat_policy: a ``jax.checkpoint_policies`` policy for what to save when ``remat``.
    chunk_size: truncated backprop through time: gradients do not flow through the
      state between chunks of this many steps. ``T`` must be a multiple of it.
    active_steps: an int32 scalar, possibly traced: only the first ``active_steps`` steps
      are needed (a batch padded to a static ``T``, as under a curriculum). The steps run
      in chunks of ``skip_chunk`` under ``lax.cond``, and a chunk that starts at or after
      ``active_steps`` is skipped, forward and backward: its outputs are zeros and the
      state passes through. The first ``T mod skip_chunk`` steps always run, so only whole
      chunks are skipped and the steps of a chunk that starts before ``active_steps`` all
      run: outputs before ``active_steps`` equal the full unroll's, and ``final_state`` is
      the state after the last chunk run (the full unroll's when ``active_steps >= T``).
      If ``active_steps`` itself is batched under ``vmap``, the cond becomes a select and
      nothing is skipped.
    skip_chunk: steps per skippable chunk; used only with ``active_steps``.

  Returns:
    ``UnrollOutput(outputs [T, B, ...], final_state)``.
  """
  first = _check_time_major(inputs, first)
  if reset_fn is None:
    if reset_state is None:
      reset_state = jax.tree.map(jnp.zeros_like, initial_state)
    reset_fn = lambda state, first_t: reset_rows(first_t, reset_state, state)
  elif reset_state is not None:
    raise ValueError('unroll: pass reset_state or reset_fn, not both')

  def step(state, xs):
    x_t, first_t = xs
    state = reset_fn(state, first_t)
    return cell_fn(state, x_t)

  if remat:
    step = jax.checkpoint(step, policy=remat_policy)

  num_steps = first.shape[0]
  if active_steps is not None:
    if chunk_size is not None:
      raise ValueError('unroll: pass chunk_size (truncated backprop) or active_steps, not both')
    return _unroll_active(step, initial_state, (inputs, first), active_steps, skip_chunk)
  if chunk_size is None or chunk_size >= num_steps:
    final_state, outputs = jax.lax.scan(step, initial_state, (inputs, first))
    return UnrollOutput(outputs, final_state)

  if chunk_size < 1 or num_steps % chunk_size:
    raise ValueError(
        f'unroll: chunk_size must be a positive divisor of T={num_steps}, got {chunk_size}')
  num_chunks = num_steps // chunk_size
  split = lambda x: x.reshape((num_chunks, chunk_size) + x.shape[1:])
  chunked = jax.tree.map(split, (inputs, first))

  def chunk(state, xs):
    # Truncation: the chunk sees the carried state's value but not its gradient.
    state = jax.lax.stop_gradient(state)
    return jax.lax.scan(step, state, xs)

  final_state, outputs = jax.lax.scan(chunk, initial_state, chunked)
  merge = lambda y: y.reshape((num_steps,) + y.shape[2:])
  return UnrollOutput(jax.tree.map(merge, outputs), final_state)


def _unroll_active(step, initial_state, xs, active_steps, skip_chunk: int) -> UnrollOutput:
  """``unroll``'s scan with the chunks from ``active_steps`` on skipped (see ``unroll``)."""
  if not isinstance(skip_chunk, int) or isinstance(skip_chunk, bool) or skip_chunk < 1:
    raise ValueError(f'unroll: skip_chunk must be a positive integer, got {skip_chunk!r}')
  num_steps = jax.tree.leaves(xs)[0].shape[0]
  # The remainder goes first: step 0 is always active, so it never needs skipping.
  head = num_steps % skip_chunk
  num_chunks = num_steps // skip_chunk
  if not num_chunks:   # shorter than a chunk: nothing to skip
    final_state, outputs = jax.lax.scan(step, initial_state, xs)
    return UnrollOutput(outputs, final_state)
  state, head_outputs = jax.lax.scan(step, initial_state,
                                     jax.tree.map(lambda x: x[:head], xs))
  chunked = jax.tree.map(
      lambda x: x[head:].reshape((num_chunks, skip_chunk) + x.shape[1:]), xs)
  output_shapes = jax.eval_shape(lambda s, c: jax.lax.scan(step, s, c)[1], state,
                                 jax.tree.map(lambda x: x[0], chunked))

  def chunk(state, index_and_xs):
    index, chunk_xs = index_and_xs

    def skip(state):
      return state, jax.tree.map(lambda o: jnp.zeros(o.shape, o.dtype), output_shapes)

    return jax.lax.cond(head + index * skip_chunk < active_steps,
                        lambda state: jax.lax.scan(step, state, chunk_xs), skip, state)

  final_state, outputs = jax.lax.scan(chunk, state, (jnp.arange(num_chunks), chunked))
  merge = lambda h, y: jnp.concatenate([h, y.reshape((num_chunks * skip_chunk,) + y.shape[2:])])
  return UnrollOutput(jax.tree.map(merge, head_outputs, outputs), final_state)
