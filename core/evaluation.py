"""Evaluation of a trained run: restore its parameters, play full episodes, record one.

Works for both runtimes: on-device runs play their JAX environment, actor-learner runs
play fresh host environments (full games: with Atari's life-loss episodes a return is
counted once per game).
"""

import json
import pathlib
from typing import Callable, NamedTuple

import jax
import ml_collections
import numpy as np

from core import checkpoint as checkpoint_lib
from core.runtime import actor_learner_train
from core.runtime import on_device_train
from envs import host_registry


class Evaluation(NamedTuple):
  episode_returns: np.ndarray  # [num_episodes]
  frames: list                 # observations of the first episode (if recorded)


def load_config(workdir) -> ml_collections.ConfigDict:
  """The resolved config a run wrote to ``workdir/config.json``."""
  path = pathlib.Path(workdir) / 'config.json'
  if not path.exists():
    raise FileNotFoundError(f'{path} not found: is {workdir} the workdir of a run?')
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def restore_params(config, workdir, make_agent: Callable):
  """The parameters of the latest checkpoint in ``workdir`` and the run's runtime."""
  if config.runtime.name == 'on_device':
    runtime = on_device_train.build(config, make_agent)
  else:
    runtime, _ = actor_learner_train.build(config, make_agent)
  template = runtime.init(jax.random.PRNGKey(config.seed))
  checkpointer = checkpoint_lib.Checkpointer(pathlib.Path(workdir) / 'checkpoints')
  try:
    if checkpointer.latest_step() is None:
      raise checkpoint_lib.CheckpointError(f'no checkpoint in {workdir}/checkpoints')
    return checkpointer.restore(template).params, runtime
  finally:
    checkpointer.close()


def play_host(agent, params, config, *, num_episodes: int, seed: int,
              record: bool = False, max_steps: int = 1_000_000) -> Evaluation:
  """Plays ``num_episodes`` full games in parallel host environments, one game each."""
  env = host_registry.make_host(config.env.name, num_envs=num_episodes,
                                **config.env.kwargs.to_dict())
  policy_step = jax.jit(agent.step)
  returns = np.full((num_episodes,), np.nan)
  frames = []
  try:
    step = env.reset(seed)
    timestep, state = step.timestep, agent.initial_state(num_episodes)
    key = jax.random.PRNGKey(seed)
    for _ in range(max_steps):
      if record and np.isnan(returns[0]):
        frames.append(np.asarray(timestep.observation[0]))
      key, step_key = jax.random.split(key)
      action, _, state = policy_step(params, step_key, timestep, state)
      step = env.step(np.asarray(action))
      timestep = step.timestep
      ended = np.isnan(returns) & ~np.isnan(step.episode_return)
      returns[ended] = step.episode_return[ended]
      if not np.isnan(returns).any():
        break
  finally:
    env.close()
  return Evaluation(returns, frames)


def evaluate(workdir, make_agent: Callable, *, num_episodes: int, seed: int = 0,
             record: bool = False) -> Evaluation:
  """Restores the latest checkpoint of ``workdir`` and plays ``num_episodes``."""
  config = load_config(workdir)
  params, runtime = restore_params(config, workdir, make_agent)
  if config.runtime.name == 'on_device':
    if record:
      raise ValueError('recording is available for host environments (actor-learner runs)')
    if num_episodes != config.num_eval_episodes:
      raise ValueError(f'on-device runs evaluate config.num_eval_episodes='
                       f'{config.num_eval_episodes} episodes; got num_episodes={num_episodes}')
    result = runtime.evaluate(params, jax.random.PRNGKey(seed))
    return Evaluation(np.asarray(result.episode_return), [])
  return play_host(runtime.agent, params, config, num_episodes=num_episodes, seed=seed,
                   record=record)


def write_animation(frames, path, *, fps: int = 30, scale: int = 3) -> str:
  """Writes observation frames as an animated GIF (Pillow) or MP4 (imageio-ffmpeg).

  Stacked Atari observations show their newest frame; images are upscaled ``scale``×.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(path)
  images = []
  for frame in frames:
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[-1] not in (3,):
      frame = frame[..., -1]  # the newest frame of a stack
    if frame.dtype != np.uint8:
      frame = np.clip(frame * 255, 0, 255).astype(np.uint8)
    image = Image.fromarray(frame)
    images.append(image.resize((image.width * scale, image.height * scale), Image.NEAREST))
  if not images:
    raise ValueError('no frames to write')
  if path.suffix == '.gif':
    images[0].save(path, save_all=True, append_images=images[1:], duration=1000 // fps,
                   loop=0)
  elif path.suffix == '.mp4':
    try:
      import imageio.v2 as imageio  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ValueError('writing MP4 needs imageio and imageio-ffmpeg '
                       '(pip install imageio imageio-ffmpeg); GIF needs nothing more') from e
    imageio.mimwrite(path, [np.asarray(i) for i in images], fps=fps)
  else:
    raise ValueError(f'animation path must end in .gif or .mp4, got {path}')
  return str(path)
