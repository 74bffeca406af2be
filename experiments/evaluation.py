"""Evaluation of a trained run: restore its parameters, play full episodes, record one.

Works for every RL runtime: on-device runs play their JAX environment, actor-learner and
asynchronous runs play fresh host environments (full games: with Atari's life-loss episodes a return is
counted once per game).
"""

import json
import pathlib
from typing import Callable

import jax
import ml_collections
import numpy as np

from core import checkpoint as checkpoint_lib
from experiments import actor_learner
from experiments import async_workers
from experiments import host_play
from experiments import on_device


# Agent fields added after runs were written, with the value that gives such a
# run's old behaviour: older workdirs keep evaluating and resuming as they trained.
_ADDED_FIELDS = {'actor_critic': {'loss': 'vtrace', 'reward_scale': 1.0, 'act': 'sample'}}


def load_config(workdir) -> ml_collections.ConfigDict:
  """The resolved config a run wrote to ``workdir/config.json``."""
  path = pathlib.Path(workdir) / 'config.json'
  if not path.exists():
    raise FileNotFoundError(f'{path} not found: is {workdir} the workdir of a run?')
  saved = json.loads(path.read_text())
  agent = saved.get('agent')
  if isinstance(agent, dict):
    for name, old_value in _ADDED_FIELDS.get(agent.get('name'), {}).items():
      agent.setdefault(name, old_value)
  return ml_collections.ConfigDict(saved)


def restore_params(config, workdir, make_agent: Callable | None = None):
  """The parameters of the latest checkpoint in ``workdir`` and the run's runtime."""
  if config.runtime.name == 'on_device':
    runtime = on_device.build(config, make_agent)
  elif config.runtime.name == 'actor_learner':
    runtime, _ = actor_learner.build(config, make_agent)
  elif config.runtime.name == 'async':
    _, template, _ = async_workers.build(config, make_agent)
    return restore(workdir, template).params, None
  else:
    raise ValueError(f'evaluation plays episodes of RL runs; {workdir} is a '
                     f'{config.runtime.name!r} run (its metrics hold its evaluation)')
  restored = restore(workdir, runtime.init(jax.random.PRNGKey(config.seed)))
  # on-device states hold a LearnerState in .learner; the host runtimes' are one.
  return getattr(restored, 'learner', restored).params, runtime


def restore(workdir, template):
  """The latest checkpoint of ``workdir`` restored into ``template``'s structure."""
  checkpointer = checkpoint_lib.Checkpointer(pathlib.Path(workdir) / 'checkpoints')
  try:
    if checkpointer.latest_step() is None:
      raise checkpoint_lib.CheckpointError(f'no checkpoint in {workdir}/checkpoints')
    return checkpointer.restore(template)
  finally:
    checkpointer.close()


def evaluate(workdir, make_agent: Callable | None = None, *, num_episodes: int,
             seed: int = 0, record: bool = False) -> host_play.Evaluation:
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
    return host_play.Evaluation(np.asarray(result.episode_return), [])
  spec, _ = host_play.probe_env(config)
  agent = host_play.evaluation_agent(config, spec, make_agent)
  return host_play.play_host(agent, params, config, num_episodes=num_episodes, seed=seed,
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
