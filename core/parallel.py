"""Device meshes and shardings for data-parallel programs (``jax.jit`` + ``NamedSharding``).

Data parallelism here is GSPMD: batch-major arrays are sharded over the mesh's ``data``
axis, parameters are replicated, and XLA inserts the gradient all-reduce where a loss
sums over the sharded batch. The same program runs on one device or many.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = 'data'


def make_mesh(num_devices: int | None = None, axis_name: str = DATA_AXIS) -> Mesh:
  """A 1-D mesh over the first ``num_devices`` devices (default: all of them)."""
  devices = jax.devices()
  if num_devices is None:
    num_devices = len(devices)
  if not 1 <= num_devices <= len(devices):
    raise ValueError(
        f'num_devices must be in [1, {len(devices)}] (the devices present), got {num_devices}')
  return Mesh(np.asarray(devices[:num_devices]), (axis_name,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, axis_name: str = DATA_AXIS) -> NamedSharding:
  """Leading (batch) dimension split over ``axis_name``."""
  return NamedSharding(mesh, PartitionSpec(axis_name))


def check_divisible(batch_size: int, mesh: Mesh, what: str, axis_name: str = DATA_AXIS):
  """Raises a clear error if ``batch_size`` cannot be split evenly over the mesh."""
  num_shards = mesh.shape[axis_name]
  if batch_size % num_shards:
    raise ValueError(
        f'{what}={batch_size} must be a multiple of the {num_shards} devices on mesh axis '
        f'{axis_name!r}')


def jit_train_step(init, update, state_sharding=None):
  """``(jit(init), jit(update))`` of a runtime whose ``update(state) -> (state, metrics)``
  donates its state: with ``state_sharding`` the state keeps those shardings and the
  metrics are replicated on its mesh."""
  if state_sharding is None:
    return jax.jit(init), jax.jit(update, donate_argnums=0)
  mesh = jax.tree.leaves(state_sharding)[0].mesh
  return (jax.jit(init, out_shardings=state_sharding),
          jax.jit(update, in_shardings=(state_sharding,),
                  out_shardings=(state_sharding, replicated(mesh)), donate_argnums=0))
