"""An LSTM controller with an external memory, as a ``core.recurrent.RecurrentCore``.

Every memory model (NTM, DNC, SAM, SDNC, dense DAM) is a ``MemoryAccess``: pure functions
over ONE batch element's memory state, driven by an interface vector the controller
emits. ``make_core`` wraps any of them with the controller, so each model is a recurrent
core that drops into the sequence model (``memory/sequence_model.py``) or an agent::

  controller input   x_t ++ reads_{t-1}            (reads: [H·W], flattened)
  interface_t        Dense(h_t)                    [interface_size]
  memory step        access.step(memory, interface_t) -> (memory', reads_t)   (vmapped)
  output y_t         h_t ++ reads_t
"""

import math
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from core import recurrent
from core import unroll as unroll_lib
from core.nn import lstm

PyTree = Any


class MemoryAccess(NamedTuple):
  """A memory's pure functions over one batch element (``jax.vmap`` adds the batch).

  Attributes:
    interface_size: numbers the controller emits per step to drive the memory.
    num_reads: read heads; each returns a ``word_size`` vector.
    word_size: W.
    initial_state: ``() -> state``: an empty memory.
    step: ``(state, interface [interface_size]) -> (state, reads [num_reads, word_size])``.
  """
  interface_size: int
  num_reads: int
  word_size: int
  initial_state: Callable[[], PyTree]
  step: Callable[[PyTree, jax.Array], tuple[PyTree, jax.Array]]


class MemoryCoreState(NamedTuple):
  controller: PyTree   # the LSTM's (c, h), [B, controller_size] each
  memory: PyTree       # the access's state, batched
  reads: jax.Array     # [B, num_reads * word_size]: the previous step's reads


def make_core(access: MemoryAccess, controller_size: int) -> recurrent.RecurrentCore:
  """The memory ``access`` with an LSTM controller of ``controller_size`` units."""
  controller = lstm.LSTM(controller_size)
  interface = nn.Dense(access.interface_size)
  read_size = access.num_reads * access.word_size

  def initial_state(params, key, batch_size):
    del params, key
    memory = jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (batch_size,) + leaf.shape),
                          access.initial_state())
    return MemoryCoreState(controller.zero_state(batch_size), memory,
                           jnp.zeros((batch_size, read_size)))

  def init(key, x):
    controller_key, interface_key = jax.random.split(key)
    batch_size = jax.tree.leaves(x)[0].shape[0]
    inputs = jnp.concatenate([x, jnp.zeros((batch_size, read_size), x.dtype)], axis=-1)
    controller_params = controller.init(controller_key, controller.zero_state(batch_size),
                                        inputs)
    h = jnp.zeros((batch_size, controller_size))
    return {'controller': controller_params,
            'interface': interface.init(interface_key, h)}

  def step(params, state, x):
    inputs = jnp.concatenate([x, state.reads.astype(x.dtype)], axis=-1)
    controller_state, h = controller.apply(params['controller'], state.controller, inputs)
    interface_vectors = interface.apply(params['interface'], h)
    memory, reads = jax.vmap(access.step)(state.memory, interface_vectors)
    reads = reads.reshape(reads.shape[0], read_size)
    return MemoryCoreState(controller_state, memory, reads), jnp.concatenate([h, reads], -1)

  def reset(params, state, first):
    # Not ``reset_rows``: its select would keep an N×W mask per step for the backward pass.
    return unroll_lib.reset_large_rows(first, initial_state(params, None, first.shape[0]),
                                       state)

  return recurrent.RecurrentCore(init=init, initial_state=initial_state, step=step,
                                 reset=reset)


def split_interface(interface: jax.Array, sizes: dict[str, tuple[int, ...]]) -> dict:
  """Cuts a flat interface vector into named pieces of the given shapes (in order)."""
  pieces, start = {}, 0
  for name, shape in sizes.items():
    pieces[name] = interface[start:start + math.prod(shape)].reshape(shape)
    start += math.prod(shape)
  if start != interface.shape[-1]:
    raise ValueError(f'interface has {interface.shape[-1]} numbers, the pieces {start}')
  return pieces


def interface_size(sizes: dict[str, tuple[int, ...]]) -> int:
  """The total size of ``split_interface``'s pieces."""
  return sum(math.prod(shape) for shape in sizes.values())
