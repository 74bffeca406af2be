"""Sparse Access Memory (Rae et al. 2016) and its dense twin DAM, as ``MemoryAccess``es.

Per step, with H read heads of K rows each and one write head:

  write  w^W = α (γ w^R_{t−1} + (1 − γ) I^U)     to the rows read last step (their weights
         averaged over the heads) or to the least-recently-used row U, which is erased
         first; M ← M + w^W aᵀ
  read   the K rows most cosine-similar to each key, weights softmax(β cos) renormalised
         over those K; r_h = Σ_k w_hk M[i_hk]
  usage  a row is accessed when a read or write weight on it exceeds δ = 0.005; U is the
         row accessed longest ago: SAM finds it in O(√N) from access times kept in
         blocks (``memory/lru.py``); DAM takes an argmin over all access times
         (``addressing.touch`` / ``least_recently_used``); both break ties to the lowest row

Why the backward pass is small: the only reads of the full N×W memory are the top-K
selection (a discrete choice, no gradient) and the LRU pick (integer bookkeeping);
everything differentiable touches gathered rows, and the writes are scatters. The
erase, write, selection and gather are one ``custom_vjp`` operation
(``memory/sparse_step.py``) whose backward scatters into the memory's cotangent, so a
step's differentiable work is O(H·K·W) and it keeps that much for the backward pass
(the rows and weights written, the rows read), never the memory, and XLA updates the
memory's cotangent in place (see sparse_step.py); ``bench_memory`` and
``tests/memory/test_sam.py`` measure it against the dense models' O(N·W) per step.

DAM is the same model with dense weights over all N rows (softmax over every row, a
one-hot LRU write): with K = N the two compute the same function.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from memory import addressing
from memory import index as index_lib
from memory import lru
from memory import memory_core
from memory import sparse_step


class SAMState(NamedTuple):
  memory: jax.Array        # [N, W]
  usage: lru.LRUState      # when each row was last accessed
  index: Any               # the index's state (memory/index.py; () for exact top-K)
  read_indices: jax.Array  # [H, K] int32: the rows read last step
  read_weights: jax.Array  # [H, K]: their weights


class DAMState(NamedTuple):
  memory: jax.Array       # [N, W]
  last_access: jax.Array  # [N] int32
  time: jax.Array         # () int32
  read_weights: jax.Array  # [H, N]


def interface_sizes(num_reads: int, word_size: int) -> dict[str, tuple[int, ...]]:
  """SAM's interface pieces (read keys and strengths, the word added, the write gate α
  and the interpolation gate γ) and their shapes, in order."""
  return {'read_keys': (num_reads, word_size), 'read_strengths': (num_reads,),
          'write_vector': (word_size,), 'write_gate': (), 'interpolation_gate': ()}


def decode(pieces: dict):
  """``(keys, strengths β ≥ 1, add, α, γ)`` from ``split_interface``'s pieces."""
  return (pieces['read_keys'], addressing.oneplus(pieces['read_strengths']),
          pieces['write_vector'], jax.nn.sigmoid(pieces['write_gate']),
          jax.nn.sigmoid(pieces['interpolation_gate']))


def _decode(interface, num_reads, word_size):
  return decode(memory_core.split_interface(interface, interface_sizes(num_reads, word_size)))


def write_rows(usage: lru.LRUState, read_indices, read_weights, alpha, gamma):
  """SAM's write ``α (γ w^R_{t−1} + (1 − γ) I^U)`` as ``(oldest U, rows [J], weights [J])``:
  the rows read last step (their weights averaged over the heads), then U."""
  oldest = lru.oldest(usage)
  rows = jnp.concatenate([read_indices.reshape(-1), oldest[None]])
  weights = alpha * jnp.concatenate([gamma * read_weights.reshape(-1) / read_indices.shape[0],
                                     (1.0 - gamma)[None]])
  return oldest, rows, weights


def check_sizes(num_rows, word_size, num_reads, k=None):
  """Raises ``ValueError`` naming the first size that is not a positive integer (or a
  ``k`` above ``num_rows``)."""
  for name, value in (('num_rows', num_rows), ('word_size', word_size),
                      ('num_reads', num_reads)) + ((('k', k),) if k is not None else ()):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f'{name} must be a positive integer, got {value!r}')
  if k is not None and k > num_rows:
    raise ValueError(f'k must be <= num_rows, got k={k} > num_rows={num_rows}')


def sam_access(*, num_rows: int, word_size: int, num_reads: int, k: int,
               index: index_lib.Index | None = None) -> memory_core.MemoryAccess:
  """SAM with ``num_reads`` heads reading ``k`` rows each of an ``[num_rows, word_size]``
  memory; ``index`` finds the rows (``memory/index.py``; exact top-K by default)."""
  check_sizes(num_rows, word_size, num_reads, k)
  index = index or index_lib.exact()

  def find(index_state, memory, written_rows, keys):
    index_state = index.insert(index_state, memory, written_rows)
    return index_state, index.query(index_state, memory, keys, k)

  def initial_state():
    return SAMState(memory=jnp.zeros((num_rows, word_size)),
                    usage=lru.create(num_rows), index=index.init(),
                    # Zero weights: the first step writes to the LRU row only.
                    read_indices=jnp.zeros((num_reads, k), jnp.int32),
                    read_weights=jnp.zeros((num_reads, k)))

  def step(state: SAMState, interface):
    keys, strengths, add, alpha, gamma = _decode(interface, num_reads, word_size)
    oldest, rows, weights = write_rows(state.usage, state.read_indices, state.read_weights,
                                       alpha, gamma)
    memory, index_state, read_rows, gathered = sparse_step.write_and_gather(
        find, state.memory, oldest, rows, weights, add, state.index, keys,
        jnp.zeros((num_reads, 0), jnp.int32))
    read = addressing.weights_of_rows(keys, strengths, read_rows, gathered)
    reads = jnp.einsum('hk,hkw->hw', read.weights, gathered)
    # This step's writes and reads are one access time, as in DAM.
    accessed_rows = jnp.concatenate([rows, read.indices.reshape(-1)])
    accessed = jax.lax.stop_gradient(
        jnp.concatenate([weights, read.weights.reshape(-1)])) > addressing.DELTA
    usage = lru.touch(state.usage, accessed_rows, accessed)
    return SAMState(memory, usage, index_state, read.indices, read.weights), reads

  return memory_core.MemoryAccess(
      interface_size=memory_core.interface_size(interface_sizes(num_reads, word_size)),
      num_reads=num_reads, word_size=word_size, initial_state=initial_state, step=step)


def dam_access(*, num_rows: int, word_size: int, num_reads: int) -> memory_core.MemoryAccess:
  """DAM: SAM's reads, writes and usage with dense weights over every row."""
  check_sizes(num_rows, word_size, num_reads)

  def initial_state():
    return DAMState(memory=jnp.zeros((num_rows, word_size)),
                    last_access=jnp.zeros((num_rows,), jnp.int32),
                    time=jnp.zeros((), jnp.int32),
                    read_weights=jnp.zeros((num_reads, num_rows)))

  def touch_dense(last_access, weights, time):
    accessed = jnp.any(jax.lax.stop_gradient(weights) > addressing.DELTA, axis=0)
    return jnp.where(accessed, time, last_access)

  def step(state: DAMState, interface):
    keys, strengths, add, alpha, gamma = _decode(interface, num_reads, word_size)
    time = state.time + 1
    lru = jax.nn.one_hot(addressing.least_recently_used(state.last_access), num_rows)
    memory = state.memory * (1.0 - lru)[:, None]
    weights = alpha * (gamma * state.read_weights.mean(0) + (1.0 - gamma) * lru)
    memory = memory + weights[:, None] * add[None, :]
    last_access = touch_dense(state.last_access, weights[None], time)
    read_weights = addressing.content_weights(memory, keys, strengths)
    reads = addressing.dense_read(memory, read_weights)
    last_access = touch_dense(last_access, read_weights, time)
    return DAMState(memory, last_access, time, read_weights), reads

  return memory_core.MemoryAccess(
      interface_size=memory_core.interface_size(interface_sizes(num_reads, word_size)),
      num_reads=num_reads, word_size=word_size, initial_state=initial_state, step=step)
