"""The memory side of one SAM step as a single differentiable operation.

Written with ordinary ops, a step reads the memory in four places (the LRU erase, the
write, the rows gathered for the weights, the rows read) and reverse mode gives each of
them its own dense N×W cotangent, zeros plus a scatter, then adds them up: O(N·W) work per
step in the backward pass, although only O(K·W) values change. Here the erase, the write,
the (non-differentiable) selection of rows and the gather are one ``custom_vjp``
function, so the memory has one consumer per step and its backward is a scatter-add into
the incoming cotangent: no dense zeros or sums per step. That backward reads the
cotangent with one gather and updates it with one scatter-add that depends on it: any
other read, or a second scatter, makes XLA copy the loop-carried N×W buffer on every
backward step (found in the compiled HLO; results/bench/NOTES.md). What it
keeps for the backward pass is the rows and weights written and the rows read, never the
memory (the paper's "store the sparse changes", without rolling the memory back: no
backward step needs the memory's values).
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from memory import addressing

# (index_state, memory [N, W], written_rows [J], keys [H, W]) -> (index_state, rows [H, K])
Find = Callable[[Any, jax.Array, jax.Array, jax.Array], tuple[Any, jax.Array]]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def write_and_gather(find: Find, memory, erased, rows, weights, add, index_state, keys,
                     known_rows):
  """Erases row ``erased``, adds ``weights[j] · add`` to ``rows[j]``, then picks the rows
  to read with ``find`` (on the new memory, no gradient) and gathers them with
  ``known_rows``.

  Args:
    find: the row finder (a hashable, pure function; see ``Find``).
    memory: ``[N, W]``.
    erased: a scalar int32 row, zeroed first (repeats in ``rows`` are fine; it must not
      be erased twice).
    rows: ``[J]`` int32 rows to add to.
    weights: ``[J]``.
    add: ``[W]`` the word added.
    index_state: the finder's state (no gradient).
    keys: ``[H, W]`` what ``find`` looks for (no gradient through the selection).
    known_rows: ``[H, E]`` int32 more rows to gather per head, chosen by the caller (the
      SDNC's temporal links; ``E`` may be 0).

  Returns:
    ``(memory, index_state, read_rows [H, K] int32, gathered [H, K + E, W])``: the rows
    ``find`` picked, then ``known_rows``.
  """
  return _forward(find, memory, erased, rows, weights, add, index_state, keys,
                  known_rows)[0]


def _forward(find, memory, erased, rows, weights, add, index_state, keys, known_rows):
  memory = addressing.erase_rows(memory, erased[None])
  memory = addressing.sparse_add(memory, rows, weights, add)
  index_state, read_rows = find(index_state, memory, rows, jax.lax.stop_gradient(keys))
  all_rows = jnp.concatenate([read_rows, known_rows.astype(read_rows.dtype)], axis=1)
  gathered = memory[all_rows]
  return (memory, index_state, read_rows, gathered), (erased, rows, weights, add, all_rows)


def _backward(find, residuals, cotangents):
  del find
  erased, rows, weights, add, all_rows = residuals
  memory_ct, _, _, gathered_ct = cotangents
  read_rows = all_rows.reshape(-1)
  read_ct = gathered_ct.reshape(read_rows.shape[0], -1)               # [R, W]
  # The incoming cotangent is read once (one gather, of the written rows and the erased
  # row) and updated once (one scatter-add that depends on that gather). XLA then updates
  # the loop-carried N×W buffer in place; a read that the update does not depend on, or a
  # second scatter, made it copy the buffer on every backward step.
  touched = jnp.concatenate([rows, erased[None]])
  touched_ct = memory_ct[touched] + (
      (touched[:, None] == read_rows[None, :]).astype(read_ct.dtype) @ read_ct)
  #   M2 = M1 + Σ_j e_{rows_j} w_j addᵀ, gathered = M2[read_rows]: M2's cotangent at the
  #   written rows is the incoming one plus the gathered rows' there.
  written_ct = touched_ct[:-1]                                         # [J, W]
  weights_ct = written_ct @ add
  add_ct = weights @ written_ct
  # M1 = M with row `erased` zeroed: nothing flows back into that row, so the scatter
  # also subtracts what the row would hold.
  memory_ct = memory_ct.at[jnp.concatenate([read_rows, erased[None]])].add(
      jnp.concatenate([read_ct, -touched_ct[-1:]]))
  return (memory_ct, None, None, weights_ct, add_ct, None, None, None)


write_and_gather.defvjp(
    lambda find, *args: _forward(find, *args), _backward)
