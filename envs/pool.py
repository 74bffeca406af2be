"""The predictron's pool domain (Silver et al. 2017, "The Predictron", §5 and appendix).

A square pool table with 4 balls (white + red, blue, yellow) and a pocket in each
corner, simulated in JAX: every episode is a pure function of a key, jittable and
batched with ``vmap``. The white ball is shot at the start; the model sees 5 rendered
frames and must predict, per ball, discounted sums of 14 event indicators over the
rest of the episode.

Units and physics (our choices: the paper does not give its simulator's settings):
  * The table is ``TABLE_SIZE = 28`` units square, so one unit is one pixel of the
    28x28 render. ``x`` runs left to right (image columns), ``y`` top to bottom (image
    rows); the table's edges are the rails.
  * Balls have radius ``BALL_RADIUS = 1.25`` and equal (unit) masses. A ball is
    pocketed when its centre comes within ``POCKET_RADIUS = 3.5`` of a corner; it is
    then parked off the table (``PARKED``) with velocity 0 and takes no further part.
  * One simulation step (one frame) lasts ``FRAME_TIME = 0.1`` time units and is
    integrated in ``SUBSTEPS = 4`` explicit sub-steps of 0.025. A ball moves at most
    14 x 0.025 = 0.35 units per sub-step, far less than a radius, so no collision is
    tunnelled through; a collision is resolved at the first sub-step the balls overlap
    (a discrete-time approximation of the moment of contact).
  * The white ball's speed is U[7, 14] units per time unit (0.7-1.4 pixels a frame),
    its direction uniform in [0, 2pi); the other balls start at rest.
  * Friction multiplies every velocity by ``exp(-friction * dt)`` each sub-step
    (default ``FRICTION = 0.1`` per time unit): a ball shot at speed v travels at most
    v / 0.1, i.e. 2.5-5 table sides, and keeps about a third of its speed at the end of
    the default episode (10.5 time units). Chosen so that the other balls take part:
    with 0.3 each coloured ball was hit about 0.25 times per episode after the inputs,
    with 0.1 about 0.55 (2,000 episodes each). Rails reflect elastically (the normal
    velocity changes sign); two balls collide elastically (with equal masses they
    exchange the velocity components along the line joining their centres). So only
    friction and pockets remove energy.
  * Start positions, rejection-free: the square ``[POCKET_RADIUS, TABLE_SIZE -
    POCKET_RADIUS]^2`` is cut into a 3x3 grid of 7-unit cells; 4 distinct cells are
    drawn (the white ball takes the first) and each ball is placed uniformly in its
    cell shrunk by a radius and a small gap. Balls in different cells cannot overlap,
    and no ball can start inside a pocket (its distance to a corner is at least
    ``POCKET_RADIUS * sqrt(2)``).

Events (``EVENT_NAMES``; 14 per ball, each a 0/1 pseudo-reward per step):
  ``ball`` (collides with another ball), ``rail_left``, ``rail_right``, ``rail_top``,
  ``rail_bottom`` (bounces off that rail), ``enter_q0..3`` (is in quadrant q after the
  step and was not before it), ``in_q0..3`` (is in quadrant q after the step), and
  ``pocket`` (is pocketed during the step). Quadrants: 0 top-left, 1 top-right, 2
  bottom-left, 3 bottom-right (as rendered); a pocketed ball is in none. The paper lists
  five kinds of event (ball collision, rail collision, entering a quadrant, being in a
  quadrant, entering a pocket) and says 14 per ball; the quadrant kinds are 4 each, which
  leaves 3 more to place. We split the rail collision per rail (1 + 4 + 4 + 4 + 1): which
  rail is hit is not implied by the quadrants (each quadrant touches two rails) and rail
  hits are frequent, whereas the other candidate, one event per pocket, would add three
  rare targets nearly implied by "in quadrant q" and "pocketed" (each quadrant holds one
  pocket). This split is our decision, not checked against the paper's code.

Episodes and targets: the state ``s_0`` is the shot; ``s_k`` follows ``k`` steps.
The inputs are the renders of ``s_0 .. s_4``; the pseudo-rewards are the events of the
next ``horizon`` steps (steps 5 .. 4 + horizon, default ``HORIZON = 100``, i.e. 10 time
units), and each prediction is ``sum_j gamma^j e_{5+j}`` for the discounts ``DISCOUNTS
= (0, 0.5, 0.9, 0.98, 1)`` (gamma = 0 is the next step's event; gamma = 1 counts the
event over the whole horizon). A batch (``PoolBatch``, batch axis 0)::

  inputs   [B, S, S, 15] float32 in [0, 1]: the 5 RGB frames (S = ``image_size``, 28 by
                           default) stacked on channels,
                           channel 3 f + c = colour c of frame f (oldest first)
  targets  [B, 280]        float32: the predictions in the order (ball, event,
                           discount), index (ball * 14 + event) * 5 + discount (see
                           ``prediction_names``), each divided by its standard deviation

The standard deviations come from ``target_std``; ``make`` estimates them once when
none are given (see there for the cost).
"""

import functools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from core import model as model_lib
from envs import copy_task

TABLE_SIZE = 28.0
BALL_RADIUS = 1.25
POCKET_RADIUS = 3.5
PARKED = -100.0           # where a pocketed ball waits, far outside any render
FRAME_TIME = 0.1
SUBSTEPS = 4
FRICTION = 0.1
MIN_SPEED, MAX_SPEED = 7.0, 14.0
NUM_BALLS = 4
NUM_INPUT_FRAMES = 5
HORIZON = 100
IMAGE_SIZE = 28
DISCOUNTS = (0.0, 0.5, 0.9, 0.98, 1.0)
GRID = 3                  # start cells per side
START_GAP = 0.05          # extra clearance between a ball and its cell's edge
SCALE_SAMPLES = 10_000    # episodes ``make`` draws to estimate the targets' stds
SCALE_KEY = 1612          # the fixed seed of that estimate (the paper's arXiv month)
MIN_STD = 0.01            # the smallest std a target is divided by (see target_std)

BALL_NAMES = ('white', 'red', 'blue', 'yellow')
BALL_COLOURS = ((1.0, 1.0, 1.0), (0.9, 0.1, 0.1), (0.15, 0.3, 0.95), (0.95, 0.8, 0.1))
TABLE_COLOUR = (0.05, 0.45, 0.2)
POCKET_COLOUR = (0.0, 0.0, 0.0)
RAIL_NAMES = ('left', 'right', 'top', 'bottom')
EVENT_NAMES = (('ball',) + tuple(f'rail_{side}' for side in RAIL_NAMES)
               + tuple(f'enter_q{q}' for q in range(4)) + tuple(f'in_q{q}' for q in range(4))
               + ('pocket',))
NUM_EVENTS = len(EVENT_NAMES)                                   # 14
NUM_PREDICTIONS = NUM_BALLS * NUM_EVENTS * len(DISCOUNTS)       # 280
_CORNERS = ((0.0, 0.0), (TABLE_SIZE, 0.0), (0.0, TABLE_SIZE), (TABLE_SIZE, TABLE_SIZE))
_PAIRS = tuple((i, j) for i in range(NUM_BALLS) for j in range(i + 1, NUM_BALLS))


class PoolState(NamedTuple):
  """The table at one moment; a leading axis stacks moments or episodes."""
  position: jax.Array  # [4, 2] float32 (x, y); PARKED once pocketed
  velocity: jax.Array  # [4, 2] float32; 0 once pocketed
  active: jax.Array    # [4] bool: still on the table


class PoolBatch(NamedTuple):
  """A supervised batch (see the module docstring); batch axis 0."""
  inputs: jax.Array   # [B, 28, 28, 15] float32 in [0, 1]
  targets: jax.Array  # [B, 280] float32, normalised


class Episode(NamedTuple):
  """One episode before normalisation."""
  frames: jax.Array   # [5, 28, 28, 3] float32: the renders of s_0 .. s_4
  rewards: jax.Array  # [horizon, 4, 14] float32: the events of steps 5 .. 4 + horizon
  targets: jax.Array  # [280] float32: discounted sums of ``rewards``, unnormalised


def prediction_names() -> list[str]:
  """The 280 targets' names, ``'<ball>/<event>/gamma=<g>'``, in the targets' order."""
  return [f'{ball}/{event}/gamma={gamma:g}' for ball in BALL_NAMES
          for event in EVENT_NAMES for gamma in DISCOUNTS]


def check_friction(friction) -> None:
  """Raises ValueError unless ``friction`` is a finite real number >= 0."""
  if (isinstance(friction, bool) or not isinstance(friction, (int, float))
      or not math.isfinite(friction) or friction < 0):
    raise ValueError(f'friction must be a finite number >= 0 (a decay rate per time '
                     f'unit), got {friction!r}')


# ---------------------------------------------------------------------------- physics


def _distinct_cells(uniforms: jax.Array) -> jax.Array:
  """``[k]`` distinct cells of ``GRID * GRID``, uniformly, from ``k`` uniforms in [0, 1).

  Draw i picks one of the ``GRID^2 - i`` cells still free (the ``rank``-th, counting
  free cells in order). Cheaper to compile under ``vmap`` than an argsort.
  """
  free = jnp.ones((GRID * GRID,), bool)
  cells = []
  for i in range(uniforms.shape[0]):
    rank = jnp.minimum((uniforms[i] * (GRID * GRID - i)).astype(jnp.int32),
                       GRID * GRID - i - 1)
    cell = jnp.argmax(free & (jnp.cumsum(free) == rank + 1))
    cells.append(cell)
    free = free.at[cell].set(False)
  return jnp.stack(cells)


def initial_state(key: jax.Array) -> PoolState:
  """The shot: balls on distinct cells of a jittered grid, the white one moving.

  Placing each ball in its own cell needs no rejection loop (a ``while_loop`` under
  ``vmap`` runs until its slowest episode finishes) and still guarantees that no two
  balls overlap and that none starts in a pocket (see the module docstring). All the
  randomness is one draw of uniforms, one generator call to compile.
  """
  uniforms = jax.random.uniform(key, (3 * NUM_BALLS + 2,))
  cells = _distinct_cells(uniforms[:NUM_BALLS])
  cell_xy = jnp.stack([cells % GRID, cells // GRID], axis=-1).astype(jnp.float32)
  cell_size = (TABLE_SIZE - 2 * POCKET_RADIUS) / GRID
  margin = BALL_RADIUS + START_GAP
  jitter = margin + (cell_size - 2 * margin) * uniforms[NUM_BALLS:3 * NUM_BALLS]
  position = POCKET_RADIUS + cell_xy * cell_size + jitter.reshape(NUM_BALLS, 2)
  speed = MIN_SPEED + (MAX_SPEED - MIN_SPEED) * uniforms[-2]
  angle = 2 * jnp.pi * uniforms[-1]
  velocity = jnp.zeros((NUM_BALLS, 2)).at[0].set(
      speed * jnp.stack([jnp.cos(angle), jnp.sin(angle)]))
  return PoolState(position, velocity, jnp.ones((NUM_BALLS,), bool))


def kinetic_energy(state: PoolState) -> jax.Array:
  """Total kinetic energy (unit masses), over the last two axes of ``velocity``."""
  return 0.5 * jnp.sum(state.velocity ** 2, axis=(-2, -1))


def _pocket(state: PoolState) -> tuple[PoolState, jax.Array]:
  """Parks the active balls whose centre is within ``POCKET_RADIUS`` of a corner."""
  corners = jnp.asarray(_CORNERS)
  distance2 = jnp.sum((state.position[:, None] - corners[None]) ** 2, axis=-1)  # [4, 4]
  pocketed = state.active & jnp.any(distance2 < POCKET_RADIUS ** 2, axis=-1)
  position = jnp.where(pocketed[:, None], PARKED, state.position)
  velocity = jnp.where(pocketed[:, None], 0.0, state.velocity)
  return PoolState(position, velocity, state.active & ~pocketed), pocketed


def _rails(state: PoolState) -> tuple[PoolState, jax.Array]:
  """Mirrors balls that crossed a rail back onto the table; ``[4, 4]`` hits (ball, side).

  A ball counts as hitting a rail only while moving into it, so a ball resting against
  a rail fires nothing.
  """
  x, y = state.position[:, 0], state.position[:, 1]
  vx, vy = state.velocity[:, 0], state.velocity[:, 1]
  low, high = BALL_RADIUS, TABLE_SIZE - BALL_RADIUS
  hits = jnp.stack([(x < low) & (vx < 0), (x > high) & (vx > 0),
                    (y < low) & (vy < 0), (y > high) & (vy > 0)], axis=-1)
  hits = hits & state.active[:, None]
  x = jnp.where(hits[:, 0], 2 * low - x, jnp.where(hits[:, 1], 2 * high - x, x))
  y = jnp.where(hits[:, 2], 2 * low - y, jnp.where(hits[:, 3], 2 * high - y, y))
  vx = jnp.where(hits[:, 0] | hits[:, 1], -vx, vx)
  vy = jnp.where(hits[:, 2] | hits[:, 3], -vy, vy)
  return PoolState(jnp.stack([x, y], -1), jnp.stack([vx, vy], -1), state.active), hits


def _collisions(state: PoolState) -> tuple[PoolState, jax.Array]:
  """Elastic collisions of overlapping, approaching pairs; ``[4]`` bool: ball was hit.

  Pairs are resolved one after another (a loop over the 6), each on the velocities the
  previous ones left, so that every exchange conserves energy exactly even when three
  balls touch at once; a simultaneous update would not. A loop rather than unrolled
  pairs keeps the compiled program small (compilation dominates short runs).
  """
  pairs = jnp.asarray(_PAIRS, jnp.int32)

  def resolve(index, carry):
    velocity, hit = carry
    i, j = pairs[index, 0], pairs[index, 1]
    offset = state.position[i] - state.position[j]
    distance2 = jnp.sum(offset ** 2)
    closing = jnp.dot(velocity[i] - velocity[j], offset)
    collide = (state.active[i] & state.active[j] & (distance2 < (2 * BALL_RADIUS) ** 2)
               & (closing < 0))
    # With equal masses the normal components are exchanged: dv = (closing / |d|^2) d.
    impulse = jnp.where(collide, closing / jnp.maximum(distance2, 1e-12), 0.0) * offset
    velocity = velocity.at[i].add(-impulse).at[j].add(impulse)
    hit = hit.at[i].max(collide).at[j].max(collide)
    return velocity, hit

  velocity, hit = jax.lax.fori_loop(0, len(_PAIRS), resolve,
                                    (state.velocity, jnp.zeros((NUM_BALLS,), bool)))
  return state._replace(velocity=velocity), hit


def _substep(state: PoolState, friction: jax.Array, dt: float):
  """Moves, pockets, bounces off rails, collides, then applies friction."""
  moved = state._replace(position=state.position + dt * state.velocity)
  state, pocketed = _pocket(moved)
  state, rails = _rails(state)
  state, hit = _collisions(state)
  state = state._replace(velocity=state.velocity * jnp.exp(-friction * dt))
  return state, (hit, rails, pocketed)


def quadrant_occupancy(state: PoolState) -> jax.Array:
  """``[..., 4, 4]`` bool (ball, quadrant): which quadrant each active ball is in."""
  half = TABLE_SIZE / 2
  index = (2 * (state.position[..., 1] >= half).astype(jnp.int32)
           + (state.position[..., 0] >= half).astype(jnp.int32))
  return (index[..., None] == jnp.arange(4)) & state.active[..., None]


def _frame_step(state: PoolState, friction: jax.Array):
  """One simulation step (``SUBSTEPS`` sub-steps) and its ``[4, 14]`` events."""
  before = quadrant_occupancy(state)
  state, (hit, rails, pocketed) = jax.lax.scan(
      lambda current, _: _substep(current, friction, FRAME_TIME / SUBSTEPS),
      state, None, length=SUBSTEPS)
  hit, rails, pocketed = hit.any(0), rails.any(0), pocketed.any(0)   # any sub-step
  after = quadrant_occupancy(state)
  events = jnp.concatenate([hit[:, None], rails, after & ~before, after,
                            pocketed[:, None]], axis=-1)
  return state, events.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=('num_steps',))
def simulate(state: PoolState, num_steps: int,
             friction: float | jax.Array = FRICTION) -> tuple[PoolState, jax.Array]:
  """Runs ``num_steps`` simulation steps from ``state``.

  ``friction`` is traced, so a frictionless check reuses the compiled program.

  Returns:
    ``(states, events)``: ``states`` stacks ``s_0 .. s_num_steps`` (leading axis
    ``num_steps + 1``); ``events [num_steps, 4, 14]`` float32 in {0, 1}, row ``k - 1``
    being step k's (``EVENT_NAMES`` order).
  """
  friction = jnp.asarray(friction, jnp.float32)

  def step(current, _):
    following, events = _frame_step(current, friction)
    return following, (following, events)

  _, (states, events) = jax.lax.scan(step, state, None, length=num_steps)
  states = jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]),
                        state, states)
  return states, events


# -------------------------------------------------------------------------- rendering


# Jitted so that an eager caller compiles once, not op by op; a jitted caller inlines it.
@functools.partial(jax.jit, static_argnames=('size',))
def render(state: PoolState, size: int = IMAGE_SIZE) -> jax.Array:
  """``[size, size, 3]`` float32 in [0, 1]: the table, its pockets and the balls.

  Each pixel is painted with its coverage of a disc (1 inside, 0 outside, a linear ramp
  one pixel wide at the edge), so a ball moving less than a pixel still changes the
  image and the speed can be read from consecutive frames. ``size`` other than 28 serves
  pictures for people (``render_strip``) and cheaper versions of the task (``make``);
  leading axes of ``state`` are not supported (``vmap`` it).
  """
  scale = size / TABLE_SIZE
  centres = (jnp.arange(size, dtype=jnp.float32) + 0.5) / scale
  grid = jnp.stack(jnp.meshgrid(centres, centres, indexing='xy'), axis=-1)  # [H, W, (x, y)]

  def disc(centre, radius):
    distance = jnp.sqrt(jnp.sum((grid - centre) ** 2, axis=-1)) * scale
    return jnp.clip(radius * scale + 0.5 - distance, 0.0, 1.0)[..., None]

  image = jnp.broadcast_to(jnp.asarray(TABLE_COLOUR), (size, size, 3))
  for corner in _CORNERS:
    alpha = disc(jnp.asarray(corner), POCKET_RADIUS)
    image = image * (1 - alpha) + alpha * jnp.asarray(POCKET_COLOUR)
  for ball in range(NUM_BALLS):
    alpha = disc(state.position[ball], BALL_RADIUS) * state.active[ball]
    image = image * (1 - alpha) + alpha * jnp.asarray(BALL_COLOURS[ball])
  return image.astype(jnp.float32)


def render_strip(frames, path: str, *, titles: Sequence[str] | None = None,
                 pixels_per_cell: int = 4) -> None:
  """Writes frames ``[T, H, W, 3]`` in [0, 1] side by side to the PNG ``path``.

  For documentation only; matplotlib is imported here so that the simulator itself
  does not depend on it.

  Raises:
    ValueError: for frames that are not ``[T, H, W, 3]`` or titles of another length.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  frames = np.asarray(frames, np.float32)
  if frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
    raise ValueError(f'frames must be [T, H, W, 3] with T >= 1, got {frames.shape}')
  if titles is not None and len(titles) != len(frames):
    raise ValueError(f'titles must have one entry per frame ({len(frames)}), '
                     f'got {len(titles)}')
  copy_task.check_int('pixels_per_cell', pixels_per_cell, 1)
  height, width = frames.shape[1:3]
  inch = pixels_per_cell * max(height, width) / 100
  figure, axes = plt.subplots(1, len(frames), squeeze=False,
                              figsize=(inch * len(frames), inch * 1.25), dpi=100)
  for index, axis in enumerate(axes[0]):
    axis.imshow(np.clip(frames[index], 0, 1), interpolation='nearest')
    axis.set_axis_off()
    if titles is not None:
      axis.set_title(titles[index], fontsize=9)
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)


# --------------------------------------------------------------------------- targets


def discounted_sums(rewards: jax.Array, discounts: Sequence[float] = DISCOUNTS) -> jax.Array:
  """``[..., D]``: ``sum_t gamma^t rewards[t]`` for each discount, by a reverse scan.

  Args:
    rewards: ``[T, ...]``, time first.
    discounts: the ``D`` discounts; 0 gives ``rewards[0]``, 1 the plain sum.
  """
  gammas = jnp.asarray(discounts, jnp.float32)
  rewards = jnp.asarray(rewards, jnp.float32)

  def backward(later, reward):
    return reward[..., None] + gammas * later, None

  start = jnp.zeros(rewards.shape[1:] + gammas.shape, jnp.float32)
  total, _ = jax.lax.scan(backward, start, rewards, reverse=True)
  return total


def _rollout(key: jax.Array, horizon: int, friction: jax.Array):
  """The states and events of one episode: inputs ``s_0 .. s_4``, then ``horizon``."""
  states, events = simulate(initial_state(key), NUM_INPUT_FRAMES - 1 + horizon, friction)
  return states, events[NUM_INPUT_FRAMES - 1:]


def _targets(rewards: jax.Array) -> jax.Array:
  return discounted_sums(rewards).reshape(NUM_PREDICTIONS)    # (ball, event, discount)


@functools.partial(jax.jit, static_argnames=('horizon', 'image_size'))
def episode(key: jax.Array, *, horizon: int = HORIZON,
            friction: float | jax.Array = FRICTION, image_size: int = IMAGE_SIZE) -> Episode:
  """One episode: input frames (``image_size`` pixels square), pseudo-rewards and
  unnormalised targets."""
  states, rewards = _rollout(key, horizon, friction)
  inputs = jax.tree.map(lambda leaf: leaf[:NUM_INPUT_FRAMES], states)
  frames = jax.vmap(lambda state: render(state, image_size))(inputs)
  return Episode(frames, rewards, _targets(rewards))


def stack_frames(frames: jax.Array) -> jax.Array:
  """``[..., T, H, W, 3]`` -> ``[..., H, W, 3 T]``: channel ``3 f + c`` is frame f's c."""
  moved = jnp.moveaxis(frames, -4, -2)                          # [..., H, W, T, 3]
  return moved.reshape(moved.shape[:-2] + (moved.shape[-2] * moved.shape[-1],))


@functools.partial(jax.jit, static_argnames=('num_samples', 'horizon', 'chunk'))
def _std(key: jax.Array, num_samples: int, horizon: int, friction: jax.Array,
         chunk: int) -> jax.Array:
  keys = jax.random.split(key, num_samples)
  targets = jax.lax.map(lambda k: _targets(_rollout(k, horizon, friction)[1]), keys,
                        batch_size=chunk)
  return jnp.std(targets, axis=0)   # two passes over [N, 280]: accurate in float32


def target_std(key: jax.Array, num_samples: int = SCALE_SAMPLES, *,
               horizon: int = HORIZON, friction: float = FRICTION) -> np.ndarray:
  """``[280]`` float32: each target's standard deviation over ``num_samples`` episodes.

  Episodes run ``min(num_samples, 1000)`` at a time (nothing is rendered), so memory
  stays bounded; the raw targets ``[N, 280]`` are kept for an accurate two-pass std.

  Each std is floored at ``MIN_STD``: a coloured ball pocketed in the first steps after
  the inputs is rare, and with gamma = 0.5 a late pocketing adds only ``0.5^k``, so the
  sample std of such a target can be 1e-5 or even 0; dividing by it would turn the
  next early pocketing into a target of 1e5 (or infinity) and let it dominate the loss.
  0.01 is the std of an event that fires in one episode of 10,000, about the rarest that
  the default sample can measure.

  Raises:
    ValueError: naming the argument, for ``num_samples < 2``, a bad horizon or friction.
  """
  copy_task.check_int('num_samples', num_samples, 2)
  copy_task.check_int('horizon', horizon, 1)
  check_friction(friction)
  std = np.asarray(_std(key, num_samples, horizon, jnp.float32(friction),
                        min(num_samples, 1000)))
  return np.maximum(std, MIN_STD).astype(np.float32)


@functools.partial(jax.jit, static_argnames=('batch_size', 'horizon', 'image_size'))
def sample(key: jax.Array, target_scale: jax.Array, *, batch_size: int,
           horizon: int = HORIZON, friction: float | jax.Array = FRICTION,
           image_size: int = IMAGE_SIZE) -> PoolBatch:
  """A batch of episodes with targets divided by ``target_scale [280]``."""
  episodes = jax.vmap(lambda k: episode(k, horizon=horizon, friction=friction,
                                        image_size=image_size))(
      jax.random.split(key, batch_size))
  return PoolBatch(stack_frames(episodes.frames), episodes.targets / target_scale)


def _check_scale(target_scale) -> np.ndarray:
  scale = np.asarray(target_scale, np.float32)
  if scale.shape != (NUM_PREDICTIONS,) or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
    raise ValueError(f'target_scale must be {NUM_PREDICTIONS} finite positive numbers, '
                     f'got shape {scale.shape}')
  return scale


def make(*, batch_size: int = 100, horizon: int = HORIZON, friction: float = FRICTION,
         target_scale=None, scale_samples: int = SCALE_SAMPLES,
         image_size: int = IMAGE_SIZE) -> model_lib.DataSource:
  """The pool domain as a stateless data source of ``PoolBatch`` (batch axis 0).

  Args:
    batch_size: episodes per batch (the paper's minibatch is 100).
    horizon: steps of pseudo-rewards after the 5 input frames.
    friction: velocity decay rate per time unit (0: frictionless).
    target_scale: ``[280]`` positive numbers the targets are divided by. When None,
      ``target_std`` estimates them here from ``scale_samples`` episodes drawn with a
      fixed key (``SCALE_KEY``), so every source built with the same physics normalises
      the same way. That costs one compilation and ``scale_samples`` simulated episodes
      (a few seconds on a CPU for the default 10,000); pass the array to skip it.
    scale_samples: episodes for that estimate.
    image_size: the side of the rendered frames in pixels (the paper's 28; a smaller
      render is a cheaper task, the same physics and targets).

  Raises:
    ValueError: naming the argument, for a value out of range.
  """
  copy_task.check_int('batch_size', batch_size, 1)
  copy_task.check_int('horizon', horizon, 1)
  copy_task.check_int('image_size', image_size, 4)
  check_friction(friction)
  if target_scale is None:
    copy_task.check_int('scale_samples', scale_samples, 2)
    target_scale = target_std(jax.random.PRNGKey(SCALE_KEY), scale_samples,
                              horizon=horizon, friction=friction)
  scale = jnp.asarray(_check_scale(target_scale))
  friction = float(friction)
  return model_lib.stateless(
      lambda key: sample(key, scale, batch_size=batch_size, horizon=horizon,
                         friction=friction, image_size=image_size),
      batch_size=batch_size, batch_axis=0)
