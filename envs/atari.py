"""Atari 2600 games as a host vector environment, on ale-py's C++ vector environment.

ale-py's ``AtariVectorEnv`` steps ``num_envs`` emulators on C++ threads and does the
DQN/IMPALA preprocessing there: 84x84 greyscale, action repeat ``frameskip`` with a max
over the last two frames, a stack of the last ``stack`` frames, up to ``noop_max`` raw
no-op frames at the start of each game, optional sticky actions. This module adds what
the actor-learner runtime needs on top (``core/host_env.py``): channels-last
observations, the protocol's episode ends, life-loss episodes and per-game scores.

Games. ale-py runs with ``autoreset_mode='NextStep'``. Measured on ale-py 0.12.1 (pong,
breakout, space_invaders, qbert, ms_pacman, random play): the step that ends a game,
by game over (``terminated``) or by the frame limit (``truncated``), returns the game's
final frame stack and that step's reward, with ``info['lives']`` the ended game's count
(0 at game over). The next step is a reset step: it does not apply its action (replays
that differ only in it are identical), plays no frames beyond the new game's no-op
start (``episode_frame_number`` is the no-op count alone), and returns the new game's
first stack (older frames zero) with reward 0, ``terminated`` and ``truncated`` False,
and ``info['lives']`` the new game's count. The frame limit counts frames after the
no-ops: ``max_episode_frames=400`` at ``frameskip=4`` truncates on the 100th step.
Here the ending step is ``last`` (not ``first``) with discount 0 at game over and 1 at
the frame limit, and the reset step is ``first`` (not ``last``), reward 0, discount 1.

Episodes within a game. With ``life_loss_ends_episode`` a *training* episode also ends
at every lost life, on that same step (``last``, ``first``, discount 0), but the game
goes on: no reset, and the observation is the game's next one. ``HostStep.episode_return``
is the score of the whole game (raw rewards summed over all its lives) and, with
``episode_length``, is reported only on the step that ends the game; the reset step adds
to neither. A life lost on the frame-limit step ends that training episode by
termination: the final observation with discount 0, then the reset step.

Why life losses are detected here rather than by ale-py (ale-py 0.12.1, NextStep):

  * ``episodic_life=True`` resets the *whole game* at each lost life: ``lives`` never
    drops below its starting value and the agent never plays its later lives. That is
    not the DQN/IMPALA semantics, so it is not used.
  * ``life_loss_info=True`` keeps the game going but reports a lost life as
    ``terminated``, indistinguishable from game over except by comparing ``lives``, and
    the step after it is an ordinary step (the action is played), not a reset step.
  * With both off, ``terminated`` means game over and ``truncated`` the frame limit.
    Between resets ``lives`` only decreases, at a lost life; it rises only on a reset
    step (the new game's count).

So ale-py runs with both off, and a life is lost where ``lives`` decreased on a step that
neither ended the game by game over nor was a reset step. As in ale-py's own
``life_loss_info`` and the OpenAI baselines' ``EpisodicLifeEnv``, a drop to 0 lives is not
a life loss: a game that showed 0 lives a step before its game over would otherwise end
two episodes in a row. (Baselines reports this for Q*bert; with ale-py 0.12.1, random
play on qbert, ms_pacman, breakout and space_invaders showed 0 lives only on the game
over step itself, so the guard costs nothing.)
"""

import difflib

from ale_py import roms
from ale_py import vector_env
import numpy as np

from core import env as env_lib
from core import host_env
from core import types

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


class AtariVectorEnv(host_env.WrappedVectorEnv):
  """``num_envs`` copies of one Atari game, implementing ``HostVectorEnv``.

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
        autoreset_mode='NextStep',  # see the module docstring
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
    self.spec = env_lib.EnvSpec(
        (_FRAME_SIZE, _FRAME_SIZE, stack), np.uint8, num_actions, None)
    # Per-game bookkeeping, updated in place every step.
    self._lives = np.zeros(self.num_envs, np.int32)
    self._game_return = np.zeros(self.num_envs, np.float32)
    self._game_length = np.zeros(self.num_envs, np.int32)
    # Environments whose last step ended a game: their next step is a reset step.
    self._pending_reset = np.zeros(self.num_envs, bool)
    self._started = False
    self._closed = False

  def reset(self, seed: int) -> host_env.HostStep:
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
    self._pending_reset = np.zeros(self.num_envs, bool)
    self._started = True
    n = self.num_envs
    timestep = types.TimeStep(
        observation=self._channels_last(obs),
        reward=np.zeros(n, np.float32),
        discount=np.ones(n, np.float32),
        first=np.ones(n, bool),
        last=np.zeros(n, bool))
    return host_env.HostStep(
        timestep, np.full(n, np.nan, np.float32), np.zeros(n, np.int32))

  def step(self, actions: np.ndarray) -> host_env.HostStep:
    """Steps every environment once (``frameskip`` frames).

    Args:
      actions: ``[N]`` integers in ``[0, spec.num_actions)``. An environment whose
        previous step ended a game ignores its action and starts a new game.

    Returns:
      The next HostStep. Where a game ended: its final observation and reward,
      ``last`` (not ``first``), discount 0 at game over (or a life lost on the
      frame-limit step) and 1 at the frame limit, and the game's score and length.
      Where the previous step ended a game: the new game's first observation, ``first``
      (not ``last``), reward 0, discount 1. Where only a life was lost (with
      ``life_loss_ends_episode``) the game goes on, but ``first``, ``last`` and
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
    actions = host_env.check_discrete_actions(actions, self.num_envs, self.spec.num_actions)
    obs, reward, terminated, truncated, info = self._env.step(
        actions.astype(np.int32, copy=False))

    reset_step = self._pending_reset
    not_reset = ~reset_step
    # ale-py reports reward 0 and neither flag on a reset step; masked all the same,
    # so that a reset step can never end a game or add to its score.
    reward = np.where(reset_step, np.float32(0), reward.astype(np.float32))
    terminated = terminated & not_reset
    game_over = (terminated | truncated) & not_reset
    lives = info['lives']
    if self._life_loss_ends_episode:
      # On a reset step `lives` rises to the new game's count; a game over drops it to 0.
      life_lost = (lives < self._lives) & (lives > 0) & ~terminated & not_reset
      episode_terminated = terminated | life_lost
      first = reset_step | (life_lost & ~game_over)
      last = game_over | life_lost
    else:
      episode_terminated = terminated
      first = reset_step
      last = game_over

    self._game_return += reward
    self._game_length += not_reset
    episode_return = np.where(game_over, self._game_return, np.float32(np.nan))
    episode_length = np.where(game_over, self._game_length, 0).astype(np.int32)
    # Reset the finished games' counters in place (no per-environment loop).
    keep = ~game_over
    self._game_return *= keep
    self._game_length *= keep
    self._lives[:] = lives
    self._pending_reset = game_over.copy()  # the returned arrays are the caller's

    timestep = types.TimeStep(
        observation=self._channels_last(obs),
        reward=reward,
        discount=(~episode_terminated).astype(np.float32),
        first=first,
        last=last)
    return host_env.HostStep(timestep, episode_return, episode_length)

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
