"""Atari 2600 games as a host vector environment, on ale-py's C++ vector environment.

ale-py's ``AtariVectorEnv`` steps ``num_envs`` emulators on C++ threads and does the
DQN/IMPALA preprocessing there: 84x84 greyscale, action repeat ``frameskip`` with a max
over the last two frames, a stack of the last ``stack`` frames, up to ``noop_max`` raw
no-op frames at the start of each game, optional sticky actions. This module adds what
the actor-learner runtime needs on top (``envs/host.py``): channels-last observations,
life-loss episodes and per-game scores.

Episodes and games. With ``life_loss_ends_episode`` a *training* episode ends at every
lost life and at game over (``last``, ``discount`` 0, ``first``), but the game goes on
after a lost life: only game over or the frame limit starts a new game.
``HostStep.episode_return`` is the score of the whole game (raw rewards summed over all
its lives) and is reported only on the step that ends the game.

Why life losses are detected here rather than by ale-py (checked on ale-py 0.12.1 with
``autoreset_mode='SameStep'``):

  * ``episodic_life=True`` resets the *whole game* at each lost life: ``lives`` never
    drops below its starting value and the agent never plays its later lives. That is
    not the DQN/IMPALA semantics, so it is not used.
  * ``life_loss_info=True`` keeps the game going but reports a lost life as
    ``terminated``, indistinguishable from game over except by comparing ``lives``.
  * With both off, ``terminated`` means game over and ``truncated`` the frame limit;
    on that step ``info['lives']`` is already the *new* game's count (SameStep reset),
    never 0. Between resets ``lives`` only decreases at a lost life.

So ale-py runs with both off, and a life is lost where ``lives`` decreased on a step that
did not end the game. As in ale-py's own ``life_loss_info`` and the OpenAI baselines'
``EpisodicLifeEnv``, a drop to 0 lives is not a life loss: a game that showed 0 lives a
step before its game over would otherwise end two episodes in a row. (Baselines reports
this for Q*bert; with ale-py 0.12.1, random play on qbert, ms_pacman, breakout and
space_invaders never showed 0 lives before game over, so the guard costs nothing.)
"""

import difflib

from ale_py import roms
from ale_py import vector_env
import numpy as np

from core import types
from envs import base
from envs import host

_FRAME_SIZE = 84
_STICKY_ACTION_PROBABILITY = 0.25  # Machado et al. (2018), "Revisiting the ALE".


def games() -> list[str]:
  """The names of the games ale-py ships ROMs for (snake_case, e.g. 'ms_pacman'), sorted."""
  return sorted(roms.get_all_rom_ids())


def _check_game(game: str) -> None:
  valid = games()
  if game in valid:
    return
  # Suggest both near spellings and the snake_case form of a CamelCase name
  # ('MsPacman' -> 'ms_pacman'), the two usual ways to miss.
  normalised = ''.join(
      '_' + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(game))
  close = difflib.get_close_matches(normalised, valid, n=3, cutoff=0.6)
  hint = f'did you mean {", ".join(close)}? ' if close else ''
  raise ValueError(
      f'unknown Atari game {game!r} (argument game); {hint}ale-py has {len(valid)} '
      'games, named in snake_case, e.g. breakout, ms_pacman, pong, space_invaders '
      '(all: envs.atari.games())')


def _check_positive(name: str, value: int, minimum: int = 1) -> None:
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
    raise ValueError(f'{name} must be an integer >= {minimum}, got {value!r}')


class AtariVectorEnv(host.WrappedVectorEnv):
  """``num_envs`` copies of one Atari game, implementing ``host.HostVectorEnv``.

  Observations are uint8 ``[N, 84, 84, stack]`` (channels last, oldest frame first);
  rewards are raw (unclipped) float32; the learner clips them.

  Attributes:
    num_envs: number of environments ``N``.
    spec: ``EnvSpec((84, 84, stack), np.uint8, num_actions, None)``.
    game: the game's name.
    frames_per_step: emulator frames per agent step (``frameskip``), for frame counts.
  """

  def __init__(
      self,
      *,
      game: str,
      num_envs: int,
      num_threads: int = 0,
      sticky_actions: bool = False,
      full_action_space: bool = False,
      life_loss_ends_episode: bool = True,
      noop_max: int = 30,
      max_episode_frames: int = 108_000,
      stack: int = 4,
      frameskip: int = 4,
      use_fire_reset: bool = False,
  ):
    """Starts the emulators (call ``reset`` before ``step``).

    Args:
      game: ale-py ROM name in snake_case, e.g. 'pong', 'breakout' (see ``games()``).
      num_envs: number of environments.
      num_threads: C++ worker threads; 0 lets ale-py use min(num_envs, CPU cores).
      sticky_actions: repeat the previous action with probability 0.25 at every frame
        (Machado et al., 2018); off in IMPALA's setup.
      full_action_space: use all 18 joystick actions instead of the game's minimal set.
      life_loss_ends_episode: end the training episode (discount 0) at each lost life.
      noop_max: a new game starts with a uniform number in [0, noop_max) of raw no-op
        frames (ale-py's convention; 0 disables them).
      max_episode_frames: emulator frames (not agent steps) after which a game is
        truncated; 108,000 frames is 30 minutes of play.
      stack: number of stacked frames (the observation's channels).
      frameskip: emulator frames per agent step (action repeat).
      use_fire_reset: press FIRE once when a game starts, in games that have it. It
        only happens at the start of a game, not after a lost life, so in Breakout the
        agent must still learn to serve. Off by default, as in IMPALA and in Machado et
        al.'s recommended protocol: the agent learns to press FIRE itself.

    Raises:
      ValueError: for an unknown game or a non-positive count; the message names the
        argument.
    """
    _check_game(game)
    _check_positive('num_envs', num_envs)
    _check_positive('num_threads', num_threads, minimum=0)
    _check_positive('noop_max', noop_max, minimum=0)
    _check_positive('max_episode_frames', max_episode_frames)
    _check_positive('stack', stack)
    _check_positive('frameskip', frameskip)
    self.game = game
    self.num_envs = int(num_envs)
    self.frames_per_step = int(frameskip)
    self._life_loss_ends_episode = bool(life_loss_ends_episode)
    self._env = vector_env.AtariVectorEnv(
        game,
        self.num_envs,
        num_threads=num_threads,
        max_num_frames_per_episode=max_episode_frames,
        repeat_action_probability=_STICKY_ACTION_PROBABILITY if sticky_actions else 0.0,
        full_action_space=full_action_space,
        autoreset_mode='SameStep',
        img_height=_FRAME_SIZE,
        img_width=_FRAME_SIZE,
        grayscale=True,
        stack_num=stack,
        frameskip=frameskip,
        maxpool=True,
        noop_max=noop_max,
        # Life losses are detected in `step` (see the module docstring).
        episodic_life=False,
        life_loss_info=False,
        reward_clipping=False,
        use_fire_reset=use_fire_reset,
    )
    num_actions = int(self._env.single_action_space.n)
    self.spec = base.EnvSpec((_FRAME_SIZE, _FRAME_SIZE, stack), np.uint8, num_actions, None)
    # Per-game bookkeeping, updated in place every step.
    self._lives = np.zeros(self.num_envs, np.int32)
    self._game_return = np.zeros(self.num_envs, np.float32)
    self._game_length = np.zeros(self.num_envs, np.int32)
    self._started = False
    self._closed = False

  def reset(self, seed: int) -> host.HostStep:
    """Starts a new game in every environment.

    Args:
      seed: environment ``i`` is seeded with ``seed + i`` (no-op starts, sticky
        actions); the same seed and actions replay the same games.

    Returns:
      ``first`` everywhere, zero reward, discount 1.
    """
    if self._closed:
      raise RuntimeError('reset() called on a closed AtariVectorEnv')
    if (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0
        or seed + self.num_envs > 2**31):
      raise ValueError(
          f'seed must be an integer in [0, 2**31 - num_envs], got {seed!r}')
    obs, info = self._env.reset(seed=int(seed))
    self._lives[:] = info['lives']
    self._game_return[:] = 0.0
    self._game_length[:] = 0
    self._started = True
    n = self.num_envs
    timestep = types.TimeStep(
        observation=self._channels_last(obs),
        reward=np.zeros(n, np.float32),
        discount=np.ones(n, np.float32),
        first=np.ones(n, bool),
        last=np.zeros(n, bool))
    return host.HostStep(timestep, np.full(n, np.nan, np.float32), np.zeros(n, np.int32))

  def step(self, actions: np.ndarray) -> host.HostStep:
    """Steps every environment once (``frameskip`` frames) and auto-resets.

    Args:
      actions: ``[N]`` integers in ``[0, spec.num_actions)``.

    Returns:
      The next HostStep. Where a game ended, the observation is already the next
      game's first one (``first`` and ``last`` both set); where only a life was lost
      (with ``life_loss_ends_episode``) the game goes on, but ``first``, ``last`` and
      ``discount`` 0 mark a new training episode.

    Raises:
      ValueError: for actions of the wrong shape, dtype or range. Checked here because
        an out-of-range action makes ale-py's worker thread drop the step and the call
        never returns.
      RuntimeError: before ``reset`` or after ``close``.
    """
    if not self._started or self._closed:
      raise RuntimeError(
          'step() needs reset() first' if not self._closed else
          'step() called on a closed AtariVectorEnv')
    actions = np.asarray(actions)
    if actions.shape != (self.num_envs,) or actions.dtype.kind not in 'iu':
      raise ValueError(
          f'actions must be integers of shape ({self.num_envs},), got dtype '
          f'{actions.dtype} shape {actions.shape}')
    if actions.min() < 0 or actions.max() >= self.spec.num_actions:
      raise ValueError(
          f'actions must lie in [0, {self.spec.num_actions}), got min {actions.min()} '
          f'max {actions.max()}')
    obs, reward, terminated, truncated, info = self._env.step(
        actions.astype(np.int32, copy=False))

    reward = reward.astype(np.float32)
    lives = info['lives']
    game_over = terminated | truncated
    if self._life_loss_ends_episode:
      life_lost = (lives < self._lives) & (lives > 0) & ~game_over
      episode_terminated = terminated | life_lost
    else:
      episode_terminated = terminated
    last = episode_terminated | truncated

    self._game_return += reward
    self._game_length += 1
    episode_return = np.where(game_over, self._game_return, np.float32(np.nan))
    episode_length = np.where(game_over, self._game_length, 0).astype(np.int32)
    # Reset the finished games' counters in place (no per-environment loop).
    keep = ~game_over
    self._game_return *= keep
    self._game_length *= keep
    self._lives[:] = lives

    timestep = types.TimeStep(
        observation=self._channels_last(obs),
        reward=reward,
        discount=(~episode_terminated).astype(np.float32),
        first=last,
        last=last.copy())
    return host.HostStep(timestep, episode_return, episode_length)

  def _channels_last(self, obs: np.ndarray) -> np.ndarray:
    """``[N, stack, 84, 84]`` -> a new C-contiguous ``[N, 84, 84, stack]``.

    One strided copy per channel is ~3x faster than ``np.ascontiguousarray`` of the
    transposed view (0.22 vs 0.59 ms for 32 Pong observations, ~3 % of a step); see
    ``scripts/bench_atari_env.py``. A new array each step, because callers keep
    observations in trajectory buffers.
    """
    out = np.empty(obs.shape[:1] + obs.shape[2:] + obs.shape[1:2], np.uint8)
    for channel in range(obs.shape[1]):
      out[..., channel] = obs[:, channel]
    return out
