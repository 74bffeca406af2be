"""Random mazes: the labels are exactly corner connectivity, and the default density halves it."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import mazes
from envs import task_registry


def bfs_labels(walls: np.ndarray) -> np.ndarray:
  """The diagonal labels of one ``[size, size]`` maze, by a breadth-first search in Python."""
  size = walls.shape[0]
  seen = np.zeros_like(walls, bool)
  if not walls[-1, -1]:
    seen[-1, -1] = True
    queue = collections.deque([(size - 1, size - 1)])
    while queue:
      r, c = queue.popleft()
      for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
        if 0 <= nr < size and 0 <= nc < size and not walls[nr, nc] and not seen[nr, nc]:
          seen[nr, nc] = True
          queue.append((nr, nc))
  return np.diagonal(seen).astype(np.float32)


def snake(size: int) -> np.ndarray:
  """Every other row a wall, open at alternate ends: one path, about size**2 / 2 long."""
  walls = np.zeros((size, size), bool)
  for row in range(1, size, 2):
    walls[row] = True
    walls[row, 0 if row % 4 == 1 else size - 1] = False
  return walls


# One shape for every eager random batch below, so that the walls' sampler (whose
# compilation is most of this file's time) compiles once.
BATCH, SIZE = 2000, 20


@pytest.mark.parametrize('wall_probability', [mazes.DEFAULT_WALL_PROBABILITY, 0.35])
def test_labels_match_a_breadth_first_search(wall_probability):
  walls, labels = map(np.asarray, mazes.sample(jax.random.PRNGKey(1), BATCH, SIZE,
                                               wall_probability))
  assert walls.shape == (BATCH, SIZE, SIZE) and walls.dtype == bool
  assert labels.shape == (BATCH, SIZE) and labels.dtype == np.float32
  expected = np.stack([bfs_labels(w) for w in walls[:30]])
  np.testing.assert_array_equal(labels[:30], expected)
  assert 0 < expected.mean() < 1          # the mazes checked hold both answers
  assert not labels[np.diagonal(walls, axis1=1, axis2=2)].any()   # a wall is joined to nothing


def hand_made(size: int = 8) -> np.ndarray:
  """Mazes whose labels are known by construction (see ``test_hand_made_mazes``)."""
  open_maze = np.zeros((size, size), bool)
  corner_walled = open_maze.copy()
  corner_walled[-1, -1] = True
  corner_boxed = open_maze.copy()
  corner_boxed[-2, -1] = corner_boxed[-1, -2] = True    # the corner itself is free
  cut = open_maze.copy()
  cut[4] = True                                          # a wall line across the diagonal
  one_wall = open_maze.copy()
  one_wall[2, 2] = True
  closed_snake = snake(size)
  closed_snake[1, 0] = True                              # the far end is shut off
  return np.stack([open_maze, corner_walled, corner_boxed, cut, one_wall, snake(size),
                   closed_snake])


def test_hand_made_mazes():
  labels = np.asarray(mazes.diagonal_labels(jnp.asarray(hand_made())))
  np.testing.assert_array_equal(labels[0], np.ones(8))
  np.testing.assert_array_equal(labels[1], np.zeros(8))
  np.testing.assert_array_equal(labels[2], [0, 0, 0, 0, 0, 0, 0, 1])
  np.testing.assert_array_equal(labels[3], [0, 0, 0, 0, 0, 1, 1, 1])
  np.testing.assert_array_equal(labels[4], [1, 1, 0, 1, 1, 1, 1, 1])
  # The snake's one path reaches (0, 0) after ~35 steps, so the fill must not stop early.
  np.testing.assert_array_equal(labels[5], [1, 0, 1, 0, 1, 0, 1, 1])
  np.testing.assert_array_equal(labels[6], [0, 0, 1, 0, 1, 0, 1, 1])


def test_under_vmap_every_maze_is_filled_to_its_end():
  # Each maze is its own loop: the open one is done in a few steps, the snake needs ~35.
  batch = hand_made()
  labels = jax.vmap(mazes.diagonal_labels)(jnp.asarray(batch))
  np.testing.assert_array_equal(labels, np.stack([bfs_labels(w) for w in batch]))


def test_a_pure_function_of_the_key():
  first = mazes.sample(jax.random.PRNGKey(3), BATCH, SIZE)
  again = mazes.sample(jax.random.PRNGKey(3), BATCH, SIZE)
  other = mazes.sample(jax.random.PRNGKey(4), BATCH, SIZE)
  np.testing.assert_array_equal(first.walls, again.walls)
  np.testing.assert_array_equal(first.labels, again.labels)
  assert not np.array_equal(first.walls, other.walls)


def test_the_default_density_joins_about_half_the_corners():
  fraction = mazes.connected_fraction(jax.random.PRNGKey(0), BATCH, SIZE)
  assert abs(fraction - 0.5) <= 0.05, fraction
  assert mazes.connected_fraction(jax.random.PRNGKey(0), BATCH, SIZE, 0.0) == 1.0
  assert mazes.connected_fraction(jax.random.PRNGKey(0), BATCH, SIZE, 0.3) < 0.4


def test_compiles_once_per_shape(monkeypatch):
  # diagonal_labels runs only while _sample is traced. The probability is traced, so new
  # keys and probabilities reuse the trace: 1 trace alone, 0 after the tests above; a
  # static probability would trace again for each new one (at least 2 here).
  traces = []
  labels_fn = mazes.diagonal_labels
  monkeypatch.setattr(mazes, 'diagonal_labels', lambda w: traces.append(1) or labels_fn(w))
  for seed, probability in enumerate([0.1, 0.2, 0.3, mazes.DEFAULT_WALL_PROBABILITY]):
    mazes.sample(jax.random.PRNGKey(seed), BATCH, SIZE, probability)
  assert len(traces) <= 1


def test_jittable_and_vmappable_with_a_traced_probability():
  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  probabilities = jnp.array([0.1, 0.4])
  walls, labels = jax.jit(jax.vmap(lambda key, p: mazes.sample(key, BATCH, SIZE, p)))(
      keys, probabilities)
  for i in range(2):
    expected = mazes.sample(keys[i], BATCH, SIZE, float(probabilities[i]))
    np.testing.assert_array_equal(walls[i], expected.walls)
    np.testing.assert_array_equal(labels[i], expected.labels)


def test_registered_source_gives_wall_and_free_channels():
  source = task_registry.make('mazes', batch_size=BATCH, size=SIZE)
  assert source.batch_size == BATCH and source.batch_axis == 0
  batch = source.sample(source.init(), jax.random.PRNGKey(5))
  assert isinstance(batch, mazes.MazeBatch)
  assert batch.inputs.shape == (BATCH, SIZE, SIZE, mazes.NUM_CHANNELS)
  assert batch.targets.shape == (BATCH, SIZE)
  assert batch.inputs.dtype == jnp.float32 and batch.targets.dtype == jnp.float32
  expected = mazes.sample(jax.random.PRNGKey(5), BATCH, SIZE)
  np.testing.assert_array_equal(batch.inputs[..., 0], expected.walls)
  np.testing.assert_array_equal(batch.inputs[..., 1], ~np.asarray(expected.walls))
  np.testing.assert_array_equal(batch.targets, expected.labels)


@pytest.mark.parametrize('kwargs, message', [
    ({'size': 1}, 'size must be an integer >= 2, got 1'),
    ({'batch_size': 0}, 'batch_size must be an integer >= 1, got 0'),
    ({'wall_probability': 1.0}, r'wall_probability must be a number in \[0, 1\), got 1.0'),
    ({'wall_probability': -0.1}, r'wall_probability must be a number in \[0, 1\)'),
    ({'wall_probability': '0.3'}, r'wall_probability must be a number in \[0, 1\)'),
])
def test_bad_arguments_name_the_argument(kwargs, message):
  with pytest.raises(ValueError, match=message):
    task_registry.make('mazes', **kwargs)
  with pytest.raises(ValueError, match=message):
    mazes.sample(jax.random.PRNGKey(0), **{'batch_size': 2, **kwargs})


def test_bad_walls_shape_is_named():
  with pytest.raises(ValueError, match=r'walls must be \[..., size, size\]'):
    mazes.diagonal_labels(jnp.zeros((3, 4, 5), bool))
