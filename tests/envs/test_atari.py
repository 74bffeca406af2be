"""Atari through ale-py's vector env: layout, life-loss episodes, game scores, options."""

import re

from ale_py import vector_env
import numpy as np
import pytest

from core import env as env_lib
from envs import atari
from envs import host_registry


def _random_actions(rng, env, steps):
  return rng.integers(0, env.spec.num_actions, (steps, env.num_envs))


def test_spec_and_reset():
  with atari.AtariVectorEnv(game='pong', num_envs=3) as env:
    assert env.num_envs == 3 and env.frames_per_step == 4
    assert env.spec == env_lib.EnvSpec((84, 84, 4), np.uint8, 6, None)
    step = env.reset(seed=0)
  obs = step.timestep.observation
  assert obs.shape == (3, 84, 84, 4) and obs.dtype == np.uint8
  assert obs.flags['C_CONTIGUOUS']
  # A new game's stack holds one frame, the newest, in the last channel.
  assert np.all(obs[..., :3] == 0) and np.all(obs[..., 3].max(axis=(1, 2)) > 0)
  assert step.timestep.first.all() and not step.timestep.last.any()
  np.testing.assert_array_equal(step.timestep.reward, 0.0)
  np.testing.assert_array_equal(step.timestep.discount, 1.0)
  assert np.isnan(step.episode_return).all()
  np.testing.assert_array_equal(step.episode_length, 0)


def test_observation_is_ale_py_stack_moved_to_channels_last():
  # A short frame limit, so that game ends and reset steps are compared too.
  kwargs = dict(num_threads=1, autoreset_mode='NextStep', reward_clipping=False,
                use_fire_reset=False, max_num_frames_per_episode=200)
  raw = vector_env.AtariVectorEnv('pong', 2, **kwargs)
  env = atari.AtariVectorEnv(game='pong', num_envs=2, num_threads=1,
                             max_episode_frames=200)
  raw_obs, _ = raw.reset(seed=7)
  step = env.reset(seed=7)
  np.testing.assert_array_equal(step.timestep.observation, raw_obs.transpose(0, 2, 3, 1))
  ends = 0
  for actions in _random_actions(np.random.default_rng(0), env, 120):
    raw_obs, raw_reward, _, raw_truncated, _ = raw.step(actions.astype(np.int32))
    step = env.step(actions)
    np.testing.assert_array_equal(step.timestep.observation, raw_obs.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(step.timestep.reward, raw_reward)
    np.testing.assert_array_equal(step.timestep.last, raw_truncated)
    ends += raw_truncated.sum()
  assert ends == 4
  raw.close()
  env.close()


def _run_and_check(env, steps, seed=0, max_steps=None):
  """Random play; checks every step's flags and returns per-game records.

  Returns:
    A list of (env index, reported return, reported length, summed reward, steps,
    life-loss episode ends, discount on the game's last step).
  """
  rng = np.random.default_rng(seed)
  game_reward = np.zeros(env.num_envs)
  game_steps = np.zeros(env.num_envs, int)
  life_losses = np.zeros(env.num_envs, int)
  games = []
  pending = np.zeros(env.num_envs, bool)
  previous = env.reset(seed=seed).timestep.observation
  for actions in _random_actions(rng, env, steps):
    step = env.step(actions)
    ts = step.timestep
    obs = ts.observation
    # The step after a game ended is a reset step: the new game's first stack (one
    # frame), first without last, reward 0, discount 1, nothing reported.
    np.testing.assert_array_equal(ts.first[pending], True)
    np.testing.assert_array_equal(ts.last[pending], False)
    np.testing.assert_array_equal(ts.reward[pending], 0.0)
    np.testing.assert_array_equal(ts.discount[pending], 1.0)
    assert not obs[pending, ..., :-1].any()
    assert np.isnan(step.episode_return[pending]).all()
    ended = ~np.isnan(step.episode_return)
    np.testing.assert_array_equal(ts.first[~pending], (ts.last & ~ended)[~pending])
    assert np.all(ts.last[ended])
    np.testing.assert_array_equal(ts.discount[~ts.last], 1.0)
    np.testing.assert_array_equal(step.episode_length[~ended], 0)
    # Every other step continues its game: the stack shifts by one frame.
    playing = ~pending
    np.testing.assert_array_equal(obs[playing, ..., :-1], previous[playing, ..., 1:])
    game_reward += ts.reward
    game_steps += playing
    for i in np.flatnonzero(ts.last & ~ended):  # a lost life: the game goes on
      assert ts.discount[i] == 0.0
      life_losses[i] += 1
    for i in np.flatnonzero(ended):  # the game's end: its final observation
      games.append((i, step.episode_return[i], step.episode_length[i], game_reward[i],
                    game_steps[i], life_losses[i], ts.discount[i]))
      game_reward[i], game_steps[i], life_losses[i] = 0.0, 0, 0
    pending = ended
    previous = obs
    if max_steps is None and len({g[0] for g in games}) == env.num_envs:
      break
  return games


def test_breakout_ends_episodes_at_lives_and_reports_the_game():
  with atari.AtariVectorEnv(game='breakout', num_envs=4, num_threads=2) as env:
    games = _run_and_check(env, 3000)
  assert {g[0] for g in games} == {0, 1, 2, 3}, 'every environment should finish a game'
  for _, ret, length, summed, steps, life_losses, discount in games:
    assert ret == summed and length == steps
    # Breakout has 5 lives: 4 lost lives end training episodes, the 5th ends the game.
    assert life_losses == 4
    assert discount == 0.0


def test_without_life_loss_episodes_only_game_over_ends_an_episode():
  with atari.AtariVectorEnv(game='breakout', num_envs=2, num_threads=2,
                            life_loss_ends_episode=False) as env:
    games = _run_and_check(env, 3000)
  assert games and all(g[5] == 0 for g in games)


def test_truncation_ends_the_game_with_discount_one():
  # 200 frames at frameskip 4 is 50 agent steps; then a reset step, then 50 more.
  with atari.AtariVectorEnv(game='pong', num_envs=2, max_episode_frames=200) as env:
    games = _run_and_check(env, 130, max_steps=130)
  assert len(games) == 4
  for _, ret, length, summed, steps, _, discount in games:
    assert length == steps == 50 and ret == summed
    assert discount == 1.0


@pytest.mark.parametrize('step_changed,same', [(50, True), (49, False), (52, False)])
def test_reset_step_ignores_the_action(step_changed, same):
  # The game is truncated on step 50 (index 49); index 50 is the reset step. Changing
  # the action there changes nothing; changing it on a played step changes the play.
  actions = np.random.default_rng(0).integers(0, 6, 60)

  def play(action):
    changed = actions.copy()
    changed[step_changed] = action
    with atari.AtariVectorEnv(game='pong', num_envs=1, num_threads=1,
                              max_episode_frames=200) as env:
      steps = [env.reset(seed=0)] + [env.step(changed[t:t + 1]) for t in range(60)]
    assert steps[50].timestep.last[0] and not steps[50].timestep.first[0]
    assert steps[51].timestep.first[0] and not steps[51].timestep.last[0]
    return np.stack([s.timestep.observation for s in steps])

  assert np.array_equal(play(2), play(3)) == same


class _ScriptedAle:
  """Stands in for ale-py's vector env: replays scripted (reward, terminated,
  truncated, lives) steps, for flag combinations random play rarely reaches."""

  def __init__(self, lives, script):
    self._lives, self._script = np.asarray(lives, np.int32), list(script)

  def reset(self, seed):
    del seed
    return np.zeros((len(self._lives), 4, 84, 84), np.uint8), {'lives': self._lives}

  def step(self, actions):
    reward, terminated, truncated, lives = (np.asarray(x) for x in self._script.pop(0))
    obs = np.zeros((len(actions), 4, 84, 84), np.uint8)
    return (obs, reward.astype(np.int32), terminated.astype(bool), truncated.astype(bool),
            {'lives': lives.astype(np.int32)})

  def close(self):
    pass


def test_flags_for_life_loss_game_over_truncation_and_reset_steps():
  # Env 0 loses a life; 1 loses a life on the frame-limit step; 2 loses its last life
  # (game over, lives 0); 3 is truncated. Then 1, 2 and 3 take reset steps.
  script = [
      # reward, terminated, truncated, lives
      ([1, 2, 3, 4], [0, 0, 1, 0], [0, 1, 0, 1], [4, 4, 0, 5]),
      ([1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [4, 5, 5, 5]),
      ([0, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [3, 5, 5, 5]),
  ]
  env = atari.AtariVectorEnv(game='breakout', num_envs=4, num_threads=1)
  env.close()
  env._env, env._closed = _ScriptedAle([5, 5, 1, 5], script), False
  env.reset(seed=0)
  first, second, third = (env.step(np.zeros(4, int)) for _ in range(3))

  np.testing.assert_array_equal(first.timestep.last, [True, True, True, True])
  np.testing.assert_array_equal(first.timestep.first, [True, False, False, False])
  np.testing.assert_array_equal(first.timestep.discount, [0.0, 0.0, 0.0, 1.0])
  np.testing.assert_array_equal(first.episode_return, [np.nan, 2.0, 3.0, 4.0])
  np.testing.assert_array_equal(first.episode_length, [0, 1, 1, 1])

  np.testing.assert_array_equal(second.timestep.first, [False, True, True, True])
  np.testing.assert_array_equal(second.timestep.last, [False, False, False, False])
  np.testing.assert_array_equal(second.timestep.discount, 1.0)
  np.testing.assert_array_equal(second.timestep.reward, [1.0, 0.0, 0.0, 0.0])
  assert np.isnan(second.episode_return).all()

  # A lost life in env 0 again; the new games continue from their reset lives.
  np.testing.assert_array_equal(third.timestep.last, [True, False, False, False])
  np.testing.assert_array_equal(third.timestep.first, [True, False, False, False])
  np.testing.assert_array_equal(third.timestep.discount, [0.0, 1.0, 1.0, 1.0])
  np.testing.assert_array_equal(env._game_length, [3, 1, 1, 1])
  np.testing.assert_array_equal(env._game_return, [2.0, 1.0, 1.0, 1.0])


def test_rewards_are_raw():
  with atari.AtariVectorEnv(game='space_invaders', num_envs=2, num_threads=2) as env:
    env.reset(seed=0)
    rewards = np.concatenate([
        env.step(a).timestep.reward for a in
        _random_actions(np.random.default_rng(0), env, 300)])
  # Space Invaders scores 5 to 30 per invader; clipping would leave only 0 and 1.
  assert rewards.max() >= 5 and np.all(rewards % 5 == 0)


def _stack_differs_between_envs(sticky_actions):
  # Without no-op starts the two environments start identically (seeds 0 and 1), and
  # the emulator is deterministic, so only sticky actions can make them diverge.
  with atari.AtariVectorEnv(game='pong', num_envs=2, num_threads=1, noop_max=0,
                            sticky_actions=sticky_actions) as env:
    step = env.reset(seed=0)
    differs = False
    for action in np.random.default_rng(0).integers(0, 6, 150):
      step = env.step(np.full(2, action))
      obs = step.timestep.observation
      differs |= not np.array_equal(obs[0], obs[1])
  return differs


def test_sticky_actions_make_play_stochastic():
  assert not _stack_differs_between_envs(sticky_actions=False)
  assert _stack_differs_between_envs(sticky_actions=True)


def test_same_seed_replays_the_same_games():
  def play(seed):
    with atari.AtariVectorEnv(game='breakout', num_envs=2, num_threads=1) as env:
      steps = [env.reset(seed=seed)]
      steps += [env.step(a) for a in _random_actions(np.random.default_rng(1), env, 60)]
    return np.stack([s.timestep.observation for s in steps])

  np.testing.assert_array_equal(play(3), play(3))


def test_full_action_space():
  with atari.AtariVectorEnv(game='pong', num_envs=2, full_action_space=True) as env:
    assert env.spec.num_actions == 18
    env.reset(seed=0)
    env.step(np.array([17, 3]))


def test_bad_actions_raise_instead_of_hanging():
  with atari.AtariVectorEnv(game='pong', num_envs=2) as env:
    with pytest.raises(RuntimeError, match='reset'):
      env.step(np.zeros(2, int))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape('[0, 6)')):
      env.step(np.array([0, 6]))
    with pytest.raises(ValueError, match='shape'):
      env.step(np.zeros(3, int))
    with pytest.raises(ValueError, match='integers'):
      env.step(np.zeros(2, np.float32))


def test_unknown_game_lists_names():
  with pytest.raises(ValueError, match=r"unknown Atari game 'pongg'.*did you mean pong"):
    atari.AtariVectorEnv(game='pongg', num_envs=1)
  with pytest.raises(ValueError, match='ms_pacman'):
    atari.AtariVectorEnv(game='MsPacman', num_envs=1)
  assert 'breakout' in atari.games() and len(atari.games()) > 50


def test_bad_counts_name_the_argument():
  with pytest.raises(ValueError, match='num_envs'):
    atari.AtariVectorEnv(game='pong', num_envs=0)
  with pytest.raises(ValueError, match='frameskip'):
    atari.AtariVectorEnv(game='pong', num_envs=1, frameskip=0)


def test_registry_builds_atari_by_name():
  env = host_registry.make_host('atari/breakout', num_envs=2, stack=2)
  assert env.spec == env_lib.EnvSpec((84, 84, 2), np.uint8, 4, None)
  assert env.reset(seed=0).timestep.observation.shape == (2, 84, 84, 2)
  env.close()


def test_registry_errors_name_the_argument():
  with pytest.raises(ValueError, match=r"'atari/pongg'.*argument game.*did you mean pong"):
    host_registry.make_host('atari/pongg', num_envs=1)
  with pytest.raises(ValueError, match=r"'mujoco/Ant'.*argument name.*atari, gym"):
    host_registry.make_host('mujoco/Ant', num_envs=1)
  with pytest.raises(ValueError, match=r"'pong'.*'atari/<game>'"):
    host_registry.make_host('pong', num_envs=1)
  with pytest.raises(ValueError, match=r'unknown argument\(s\) sticky;.*sticky_actions'):
    host_registry.make_host('atari/pong', num_envs=1, sticky=True)
