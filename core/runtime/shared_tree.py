"""A pytree of arrays that several workers read and update in place.

The asynchronous runtime keeps the whole ``LearnerState`` (parameters, optimiser
statistics, target parameters) in one of these. With worker *processes* each leaf lives in
a ``multiprocessing.shared_memory`` block that every process maps; with worker *threads*
the leaves are ordinary numpy arrays. Either way a worker sees the same numpy views.

Nothing here locks: ``add`` is numpy's in-place ``+=``, which is what Hogwild! asks for.
Two workers adding at once may each read an element before the other writes it, so one
increment to that element can be lost; in exchange no worker ever waits for another.
"""

from multiprocessing import shared_memory
from typing import Any, NamedTuple

import jax
import numpy as np

PyTree = Any


class Layout(NamedTuple):
  """What a process needs to map the leaves: block names, shapes and dtypes (picklable)."""
  names: tuple[str, ...]
  shapes: tuple[tuple[int, ...], ...]
  dtypes: tuple[str, ...]


def _attach_block(name: str) -> shared_memory.SharedMemory:
  """Maps an existing block without taking ownership of it. Python 3.13 says so with
  ``track=False``; before it, a spawned worker registers the name with the resource
  tracker it shares with its parent, where the creator's ``unlink`` unregisters it."""
  try:
    return shared_memory.SharedMemory(name=name, track=False)
  except TypeError:  # Python < 3.13
    return shared_memory.SharedMemory(name=name)


class SharedTree:
  """The leaves of a pytree in shared (or, for threads, ordinary) numpy buffers.

  Create it from a template in the coordinating process (``create``), pass its
  ``layout`` to worker processes, which ``attach``. The creator ``unlink``s the blocks
  when the run ends.
  """

  def __init__(self, treedef, arrays: list[np.ndarray],
               blocks: list[shared_memory.SharedMemory] | None, layout: Layout | None):
    self._treedef, self._arrays, self._blocks, self.layout = treedef, arrays, blocks, layout

  @classmethod
  def create(cls, template: PyTree, *, shared: bool) -> 'SharedTree':
    """Buffers shaped like ``template``'s leaves, holding its values.

    Args:
      template: a pytree of arrays (device arrays are copied to the host).
      shared: put the leaves in shared-memory blocks (for worker processes).
    """
    leaves, treedef = jax.tree.flatten(jax.device_get(template))
    leaves = [np.asarray(x) for x in leaves]
    if not shared:
      return cls(treedef, [x.copy() for x in leaves], None, None)
    blocks, arrays = [], []
    for x in leaves:
      block = shared_memory.SharedMemory(create=True, size=max(x.nbytes, 1))
      view = np.ndarray(x.shape, x.dtype, buffer=block.buf)
      view[...] = x
      blocks.append(block)
      arrays.append(view)
    layout = Layout(tuple(b.name for b in blocks), tuple(x.shape for x in leaves),
                    tuple(x.dtype.str for x in leaves))
    return cls(treedef, arrays, blocks, layout)

  @classmethod
  def attach(cls, layout: Layout, template: PyTree) -> 'SharedTree':
    """Maps blocks made by ``create`` in another process; ``template`` gives the tree
    structure (any pytree with the same structure, shapes and dtypes)."""
    leaves, treedef = jax.tree.flatten(jax.eval_shape(lambda: template))
    found = [(tuple(x.shape), np.dtype(x.dtype).str) for x in leaves]
    expected = list(zip(layout.shapes, layout.dtypes))
    if found != expected:
      raise ValueError(f'SharedTree.attach: the template has leaves {found}, the shared '
                       f'blocks hold {expected}')
    blocks, arrays = [], []
    for name, shape, dtype in zip(layout.names, layout.shapes, layout.dtypes):
      block = _attach_block(name)
      blocks.append(block)
      arrays.append(np.ndarray(shape, np.dtype(dtype), buffer=block.buf))
    return cls(treedef, arrays, blocks, layout)

  def read(self) -> PyTree:
    """A private copy of the current values (other workers may be writing meanwhile)."""
    return jax.tree.unflatten(self._treedef, [x.copy() for x in self._arrays])

  def write(self, tree: PyTree) -> None:
    """Overwrites every leaf with ``tree``'s."""
    for dst, src in zip(self._arrays, jax.tree.leaves(tree)):
      np.copyto(dst, np.asarray(src), casting='same_kind')

  def add(self, delta: PyTree) -> None:
    """Adds ``delta`` to every leaf in place, without a lock (Hogwild!)."""
    for dst, d in zip(self._arrays, jax.tree.leaves(delta)):
      dst += np.asarray(d, dtype=dst.dtype)

  def close(self) -> None:
    """Unmaps this process's views of the blocks."""
    self._arrays = []
    for block in self._blocks or ():
      block.close()

  def unlink(self) -> None:
    """Frees the blocks (the creator, once every worker has finished)."""
    self.close()
    for block in self._blocks or ():
      block.unlink()
    self._blocks = None
