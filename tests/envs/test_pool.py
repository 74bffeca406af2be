"""The pool domain: the physics keeps its laws, the events say what happened, the targets
are the discounted sums of the events, and the data source delivers them as documented."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import pool

STEPS = 20                  # every hand-made scene runs this long (one compilation)
RAIL, HIT, POCKET = 1, 0, pool.NUM_EVENTS - 1
ENTER, IN = 5, 9            # the first "enter quadrant" and "in quadrant" events


def scene(balls: dict) -> pool.PoolState:
  """A table holding only ``balls`` ({index: (position, velocity)}); the rest parked."""
  position = np.full((pool.NUM_BALLS, 2), pool.PARKED, np.float32)
  velocity = np.zeros((pool.NUM_BALLS, 2), np.float32)
  active = np.zeros(pool.NUM_BALLS, bool)
  for index, (xy, v) in balls.items():
    position[index], velocity[index], active[index] = xy, v, True
  return pool.PoolState(jnp.asarray(position), jnp.asarray(velocity), jnp.asarray(active))


def run(state, friction=0.0):
  states, events = pool.simulate(state, STEPS, friction)
  return jax.tree.map(np.asarray, states), np.asarray(events)


SEED, EPISODES = 7, 16      # the data source's batch for PRNGKey(SEED) has EPISODES


@pytest.fixture(scope='module')
def episodes():
  """16 random shots, 4 + ``HORIZON`` steps, with friction and without: ``{friction:
  (states, events)}``; one compiled program serves both (friction is traced)."""
  keys = jax.random.split(jax.random.PRNGKey(SEED), EPISODES)   # as the data source's
  simulate = jax.jit(jax.vmap(lambda key, friction: pool.simulate(
      pool.initial_state(key), 4 + pool.HORIZON, friction), in_axes=(0, None)))
  return {friction: jax.tree.map(np.asarray, simulate(keys, friction))
          for friction in (0.0, pool.FRICTION)}


@pytest.fixture(scope='module')
def scaled():
  """``(scale, batch)``: the data source's batch for ``PRNGKey(SEED)``, targets divided by
  ``scale``; its episodes are those of ``episodes`` (the same keys)."""
  scale = np.linspace(0.5, 2.0, pool.NUM_PREDICTIONS).astype(np.float32)
  source = pool.make(batch_size=EPISODES, target_scale=scale)
  batch = source.sample(source.init(), jax.random.PRNGKey(SEED))
  return scale, jax.tree.map(np.asarray, batch)


def test_energy_never_increases_and_only_friction_and_pockets_remove_it(episodes):
  states, events = episodes[pool.FRICTION]
  energy = np.asarray(pool.kinetic_energy(states))                  # [16, 105]
  assert np.all(np.diff(energy, axis=1) <= 1e-6 * energy[:, :1])
  assert np.all(energy[:, -1] < 0.5 * energy[:, 0])                 # friction bites
  states, events = episodes[0.0]
  assert events[..., HIT].sum() >= 4 and events[..., RAIL:RAIL + 4].sum() >= 16  # not vacuous
  energy = np.asarray(pool.kinetic_energy(states))
  change = np.diff(energy, axis=1)                                  # [16, 104]
  pocketed = events[..., POCKET].any(axis=-1)                       # [16, 104]
  np.testing.assert_allclose(change[~pocketed], 0.0, atol=1e-5 * energy.max())
  assert np.all(change[pocketed] < 0)


def test_starts_are_on_the_table_apart_and_only_the_white_ball_moves(episodes):
  states, _ = episodes[0.0]
  position, velocity = states.position[:, 0], states.velocity[:, 0]  # [16, 4, 2]
  distance = np.linalg.norm(position[:, :, None] - position[:, None], axis=-1)
  assert np.all(distance[:, ~np.eye(4, dtype=bool)] >= 2 * pool.BALL_RADIUS)
  assert np.all((position >= pool.POCKET_RADIUS) &
                (position <= pool.TABLE_SIZE - pool.POCKET_RADIUS))
  speed = np.linalg.norm(velocity, axis=-1)
  assert np.all((speed[:, 0] >= 7) & (speed[:, 0] <= 14)) and not speed[:, 1:].any()


def test_head_on_collision_exchanges_velocities():
  states, events = run(scene({0: ((8.0, 14.0), (10.0, 0.0)), 1: ((16.0, 14.0), (0.0, 0.0))}))
  # The gap of 5.5 closes in step 6; ball 1 reaches the right rail only in step 17.
  np.testing.assert_allclose(states.velocity[10, 0], [0.0, 0.0], atol=1e-5)
  np.testing.assert_allclose(states.velocity[10, 1], [10.0, 0.0], atol=1e-5)
  assert events[:10, 0, HIT].sum() == 1 and events[:10, 1, HIT].sum() == 1
  assert events[5, 0, HIT] == 1 and not events[:, 2:].any()
  np.testing.assert_allclose(states.position[10:, 0], states.position[10:11, 0].repeat(
      STEPS - 9, 0), atol=1e-6)                                     # the white ball stops


def test_a_ball_reflects_off_the_rail_it_moves_into():
  states, events = run(scene({2: ((14.0, 10.0), (-10.0, 3.0))}))
  # x reaches the radius after 12.75 / 10 = 1.275 time units (step 13) and is mirrored.
  np.testing.assert_allclose(states.velocity[-1, 2], [10.0, 3.0], atol=1e-5)
  np.testing.assert_allclose(states.position[-1, 2],
                             [pool.BALL_RADIUS + 10.0 * (2.0 - 1.275), 16.0], atol=1e-4)
  assert events[:, 2, RAIL].sum() == 1 and events[12, 2, RAIL] == 1
  assert events[:, 2, RAIL + 1:RAIL + 4].sum() == 0 and events[:, 2, HIT].sum() == 0


def test_a_ball_aimed_at_a_pocket_is_pocketed_once():
  speed = 10.0 / np.sqrt(2)
  states, events = run(scene({3: ((10.0, 10.0), (-speed, -speed))}))
  # 14.14 from the corner, captured at 3.5: after 1.064 time units, in step 11.
  assert events[:, 3, POCKET].sum() == 1 and events[10, 3, POCKET] == 1
  assert not states.active[11:, 3].any() and states.active[:11, 3].all()
  np.testing.assert_array_equal(states.position[-1, 3], [pool.PARKED, pool.PARKED])
  np.testing.assert_array_equal(states.velocity[-1, 3], [0.0, 0.0])
  assert not events[10:, 3, :POCKET].any()     # in no quadrant, hitting nothing, after it
  assert events[:10, 3, IN].all()              # until then in quadrant 0 (top-left)


def test_quadrant_events_follow_the_positions(episodes):
  states, events = episodes[pool.FRICTION]
  half = pool.TABLE_SIZE / 2
  quadrant = 2 * (states.position[..., 1] >= half) + (states.position[..., 0] >= half)
  inside = (quadrant[..., None] == np.arange(4)) & states.active[..., None]  # [16, 105, 4, 4]
  np.testing.assert_array_equal(events[..., IN:IN + 4], inside[:, 1:])
  np.testing.assert_array_equal(events[..., ENTER:ENTER + 4], inside[:, 1:] & ~inside[:, :-1])
  assert events[..., ENTER:ENTER + 4].sum() >= 8                    # balls did cross


def test_targets_are_the_discounted_sums_of_the_later_events(episodes, scaled):
  source_scale, batch = scaled
  rewards = episodes[pool.FRICTION][1][3, 4:]     # episode 3's events from step 5 on
  assert rewards.shape == (pool.HORIZON, 4, 14) and rewards.sum() > 0
  expected = [sum(gamma ** t * rewards[t, ball, event] for t in range(len(rewards)))
              for ball in range(4) for event in range(14) for gamma in pool.DISCOUNTS]
  np.testing.assert_allclose(batch.targets[3] * source_scale, expected, rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(pool.discounted_sums(np.array([1.0, 0.0, 1.0]), (0.0, 0.5, 1.0)),
                             [1.0, 1.25, 2.0])
  assert pool.prediction_names()[(2 * 14 + 13) * 5 + 1] == 'blue/pocket/gamma=0.5'


def test_a_ball_shows_up_where_it_is():
  image = np.asarray(pool.render(scene({1: ((7.5, 20.5), (0.0, 0.0))})))
  assert image.shape == (28, 28, 3) and image.dtype == np.float32
  assert image.min() >= 0 and image.max() <= 1
  np.testing.assert_allclose(image[20, 7], pool.BALL_COLOURS[1], atol=1e-6)   # row y, col x
  np.testing.assert_allclose(image[14, 14], pool.TABLE_COLOUR, atol=1e-6)
  np.testing.assert_allclose(image[0, 0], pool.POCKET_COLOUR, atol=1e-6)
  red = np.argwhere(np.all(np.abs(image - pool.BALL_COLOURS[1]) < 1e-3, axis=-1))
  np.testing.assert_allclose(red.mean(0), [20, 7], atol=0.01)       # centred on the ball
  empty = np.asarray(pool.render(scene({})))
  np.testing.assert_allclose(empty[14, 14], pool.TABLE_COLOUR, atol=1e-6)
  assert not np.isclose(empty, pool.BALL_COLOURS[1], atol=1e-3).all(-1).any()


def test_inputs_are_the_first_five_frames_stacked_on_channels(episodes, scaled):
  _, batch = scaled
  states = episodes[pool.FRICTION][0]
  for f in range(5):
    state = jax.tree.map(lambda leaf: leaf[3, f], states)
    np.testing.assert_allclose(batch.inputs[3, ..., 3 * f:3 * f + 3], pool.render(state),
                               atol=1e-6)
  assert not np.array_equal(batch.inputs[3, ..., :3], batch.inputs[3, ..., 12:])  # it moved


def test_the_data_source_is_a_function_of_the_key(scaled):
  source_scale, batch = scaled
  source = pool.make(batch_size=EPISODES, target_scale=source_scale)
  assert source.batch_size == EPISODES and source.batch_axis == 0
  assert batch.inputs.shape == (16, 28, 28, 15) and batch.inputs.dtype == np.float32
  assert batch.targets.shape == (16, 280) and batch.targets.dtype == np.float32
  assert batch.inputs.min() >= 0 and batch.inputs.max() <= 1
  again = source.sample(source.init(), jax.random.PRNGKey(SEED))
  other = source.sample(source.init(), jax.random.PRNGKey(8))
  for a, b in zip(batch, again):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(batch.inputs, other.inputs)
  # A smaller render: the same episodes and targets, frames drawn at 14 pixels.
  small = pool.make(batch_size=EPISODES, target_scale=source_scale, image_size=14).sample(
      (), jax.random.PRNGKey(SEED))
  assert small.inputs.shape == (16, 14, 14, 15)
  np.testing.assert_array_equal(small.targets, batch.targets)


def test_the_targets_std_is_estimated_when_not_given(scaled):
  source_scale, batch = scaled
  std = pool.target_std(jax.random.PRNGKey(pool.SCALE_KEY), 64)
  assert std.shape == (280,) and std.min() >= pool.MIN_STD
  assert std.max() > 1.0                       # "in quadrant" over 100 steps varies a lot
  source = pool.make(batch_size=EPISODES, scale_samples=64)
  estimated = source.sample(source.init(), jax.random.PRNGKey(SEED))
  np.testing.assert_allclose(estimated.targets * std, batch.targets * source_scale,
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kwargs, message', [
    ({'batch_size': 0}, 'batch_size must be an integer >= 1'),
    ({'horizon': 0}, 'horizon must be an integer >= 1'),
    ({'friction': -0.1}, 'friction must be a finite number >= 0'),
    ({'friction': 'high'}, 'friction must be a finite number >= 0'),
    ({'target_scale': np.ones(3)}, 'target_scale must be 280 finite positive numbers'),
    ({'target_scale': np.zeros(280)}, 'target_scale must be 280 finite positive numbers'),
    ({'scale_samples': 1}, 'scale_samples must be an integer >= 2'),
    ({'image_size': 2}, 'image_size must be an integer >= 4'),
])
def test_bad_arguments_name_the_argument(kwargs, message):
  with pytest.raises(ValueError, match=message):
    pool.make(**kwargs)


def test_render_strip_writes_a_png(tmp_path):
  frames = np.zeros((3, 28, 28, 3), np.float32)
  path = tmp_path / 'strip.png'
  pool.render_strip(frames, str(path), titles=['a', 'b', 'c'])
  assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  with pytest.raises(ValueError, match='frames must be'):
    pool.render_strip(frames[0], str(path))
  with pytest.raises(ValueError, match='titles must have one entry per frame'):
    pool.render_strip(frames, str(path), titles=['a'])
