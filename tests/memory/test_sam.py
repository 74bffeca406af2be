"""SAM: sparse equals dense at K = N, its reads and LRU writes, and a backward pass whose
memory does not grow with the memory size per step."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from core import recurrent
from memory import index as index_lib
from memory import lru
from memory import memory_core
from memory import sam
from memory import sdnc


def _unrolled(access, num_steps=6, batch_size=2, input_size=5, controller_size=16):
  core = memory_core.make_core(access, controller_size)
  inputs = jax.random.normal(jax.random.PRNGKey(1), (num_steps, batch_size, input_size))
  params = core.init(jax.random.PRNGKey(0), inputs[0])

  def outputs(params):
    state = core.initial_state(params, None, batch_size)
    first = jnp.zeros((num_steps, batch_size), bool)
    return recurrent.unroll(core, params, state, inputs, first).outputs

  return params, jax.jit(outputs)


def test_sparse_equals_dense_when_k_is_the_whole_memory():
  params, sparse = _unrolled(sam.sam_access(num_rows=8, word_size=4, num_reads=2, k=8))
  _, dense = _unrolled(sam.dam_access(num_rows=8, word_size=4, num_reads=2))
  np.testing.assert_allclose(sparse(params), dense(params), atol=1e-5)
  grads = [jax.jit(jax.grad(lambda p, f=f: jnp.sum(jnp.sin(f(p)))))(params)
           for f in (sparse, dense)]
  for a, b in zip(*map(jax.tree.leaves, grads)):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_sparse_differs_from_dense_when_k_is_smaller():
  # The check above must be able to fail: with K < N the reads are truncated.
  params, sparse = _unrolled(sam.sam_access(num_rows=8, word_size=4, num_reads=2, k=2))
  _, dense = _unrolled(sam.dam_access(num_rows=8, word_size=4, num_reads=2))
  assert np.abs(np.asarray(sparse(params)) - np.asarray(dense(params))).max() > 1e-4


def _interface(access, keys, strengths, add, write_gate, interpolation_gate):
  flat = jnp.concatenate([jnp.asarray(keys, jnp.float32).reshape(-1),
                          jnp.asarray(strengths, jnp.float32), jnp.asarray(add, jnp.float32),
                          jnp.asarray([write_gate, interpolation_gate], jnp.float32)])
  assert flat.shape == (access.interface_size,)
  return flat


def _usage(oldest_first):
  """Usage where the rows were accessed one per step in this order."""
  usage = lru.create(len(oldest_first))
  for row in oldest_first:
    usage = lru.touch(usage, jnp.array([row]), jnp.array([True]))
  return usage


def _order(usage, num_rows):
  return np.argsort(np.asarray(lru.times(usage, num_rows)), kind='stable')


def test_reads_the_k_most_similar_rows_and_renormalises_over_them():
  access = sam.sam_access(num_rows=6, word_size=3, num_reads=1, k=2)
  memory = jnp.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [-1, 0, 0]],
                     jnp.float32)
  state = access.initial_state()._replace(memory=memory, usage=_usage([5, 4, 3, 2, 1, 0]))
  # A write gate of ~0 adds nothing (the LRU row 5 is erased, as every step); the key is
  # closest to rows 0 and 3.
  interface = _interface(access, [[1.0, 0.2, 0.0]], [20.0], [0, 0, 0], -30.0, 0.0)
  new_state, reads = access.step(state, interface)
  assert sorted(np.asarray(new_state.read_indices[0]).tolist()) == [0, 3]
  np.testing.assert_allclose(new_state.read_weights.sum(), 1.0, rtol=1e-6)
  expected = np.asarray(new_state.read_weights[0]) @ np.asarray(memory)[
      np.asarray(new_state.read_indices[0])]
  np.testing.assert_allclose(reads[0], expected, rtol=1e-5)
  # The rows read become the most recently used (in index order); the others keep theirs.
  np.testing.assert_array_equal(_order(new_state.usage, 6), [5, 4, 2, 1, 0, 3])


def test_writes_go_to_the_least_recently_used_row_which_is_erased_first():
  access = sam.sam_access(num_rows=4, word_size=2, num_reads=1, k=1)
  state = access.initial_state()._replace(
      memory=jnp.array([[5, 5], [6, 6], [7, 7], [8, 8]], jnp.float32),
      usage=_usage([1, 3, 0, 2]))
  # Write gate ~1, interpolation gate ~0: everything goes to the LRU row (row 1).
  interface = _interface(access, [[0.0, 1.0]], [1.0], [2.0, -1.0], 30.0, -30.0)
  new_state, _ = access.step(state, interface)
  np.testing.assert_allclose(new_state.memory, [[5, 5], [2, -1], [7, 7], [8, 8]], atol=1e-5)
  # Row 1 (written) and row 0 (read: the first of the rows tied for the key) move back.
  np.testing.assert_array_equal(_order(new_state.usage, 4), [3, 2, 0, 1])


def test_fresh_memory_is_filled_row_after_row():
  access = sam.sam_access(num_rows=5, word_size=2, num_reads=1, k=1)
  state = access.initial_state()
  for step in range(3):
    interface = _interface(access, [[0.0, 1.0]], [1.0], [1.0, step + 1.0], 30.0, -30.0)
    state, _ = access.step(state, interface)
  np.testing.assert_allclose(state.memory[:3, 1], [1, 2, 3], atol=1e-5)
  assert not np.asarray(state.memory[3:]).any()


def test_gradients_match_finite_differences():
  with jax.enable_x64(True):
    access = sam.sam_access(num_rows=6, word_size=3, num_reads=2, k=2)
    params, outputs = _unrolled(access, num_steps=3, batch_size=1, input_size=3,
                                controller_size=4)
    params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
    check_grads(lambda p: jnp.sum(jnp.tanh(outputs(p))), (params,), order=1, modes=['rev'],
                atol=1e-4, rtol=1e-4)


def _backprop_bytes(access, num_steps):
  params, outputs = _unrolled(access, num_steps=num_steps, batch_size=1)
  grad = jax.jit(jax.grad(lambda p: jnp.sum(outputs(p) ** 2)))
  return grad.lower(params).compile().memory_analysis().temp_size_in_bytes


@pytest.mark.parametrize('num_rows', [4096])
def test_backward_pass_keeps_rows_read_not_the_memory(num_rows):
  memory_bytes = num_rows * 32 * 4
  sparse = sam.sam_access(num_rows=num_rows, word_size=32, num_reads=4, k=4)
  dense = sam.dam_access(num_rows=num_rows, word_size=32, num_reads=4)
  sparse_growth = _backprop_bytes(sparse, 40) - _backprop_bytes(sparse, 10)
  dense_growth = _backprop_bytes(dense, 40) - _backprop_bytes(dense, 10)
  # 30 more steps: the dense model keeps ~N×W values per step; SAM's H·K·W.
  assert dense_growth > 30 * memory_bytes
  assert sparse_growth < memory_bytes


def _copies_in_loop_bodies(hlo_text: str, shape: str) -> int:
  """``copy`` ops of arrays of ``shape`` in the bodies of the program's ``while`` loops
  (not in the branches of a ``conditional``: the reset branch, taken only on steps where
  an episode starts, must rewrite the memory anyway)."""
  bodies = set(re.findall(r'body=(%[\w.\-]+)', hlo_text))
  count, current = 0, None
  for line in hlo_text.split('\n'):
    if line and not line.startswith(' ') and '{' in line:
      current = line.split(' ')[0]
    count += current in bodies and f'[{shape}]' in line and ' copy(' in line
  return count


@pytest.mark.parametrize('make_access', [
    lambda: sam.sam_access(num_rows=257, word_size=6, num_reads=2, k=2),
    lambda: sdnc.sdnc_access(num_rows=257, word_size=6, num_reads=2, k=2)],
    ids=['sam', 'sdnc'])
def test_backward_updates_the_memory_gradient_in_place(make_access):
  # A copy of the [B, N, W] memory or its cotangent per step would cost O(N·W) per step.
  params, outputs = _unrolled(make_access(), num_steps=5, batch_size=3)
  grad = jax.jit(jax.grad(lambda p: jnp.sum(outputs(p) ** 2)))
  hlo = grad.lower(params).compile().as_text()
  assert re.search(r'body=%', hlo)  # the unroll is a while loop
  assert _copies_in_loop_bodies(hlo, '3,257,6') == 0
  # The SDNC's [N, K_L = 8] link stores and their gradients stay in place too.
  assert _copies_in_loop_bodies(hlo, '3,257,8') == 0


def test_runs_with_the_lsh_index_and_has_finite_gradients():
  access = sam.sam_access(num_rows=64, word_size=4, num_reads=2, k=2,
                          index=index_lib.lsh(num_rows=64, word_size=4))
  params, outputs = _unrolled(access, num_steps=8)
  grads = jax.jit(jax.grad(lambda p: jnp.sum(outputs(p) ** 2)))(params)
  assert np.isfinite(np.asarray(outputs(params))).all()
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
