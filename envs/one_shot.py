"""One-shot classification episodes (Santoro et al. 2016; Rae et al. 2016, SAM).

The Omniglot protocol of "One-shot learning with memory-augmented neural networks": an
episode picks ``n`` classes of a pool at random, gives them a random permutation of the
labels ``0 .. n-1`` (so a label means nothing across episodes) and shows
``samples_per_class`` distinct images of each class in a random order. At each step the
model sees the image and the correct label of the PREVIOUS step, and must output the
label of the current image: the first presentation of a class can only be guessed, a
later one can be answered from memory. The result is reported as accuracy by instance
(the 1st, 2nd, ... presentation of a class; ``accuracy_by_instance``). Batches are a pure
function of a key, time-major, with ``T = num_classes * samples_per_class``::

  inputs   [T, B, D + n]  the image at step t (``D`` pixels in [0, 1]), then the one-hot
                          label of step t - 1 (zeros at t = 0)
  targets  [T, B, n]      the one-hot label of the image at step t
  mask     [T, B]         1 everywhere: every step is scored

The targets are one-hot bits so that the memory models' existing loss
(``memory.sequence_model``: sigmoid cross-entropy summed over the ``n`` channels) applies
unchanged; the predicted label is the argmax of the ``n`` logits. This differs from
Santoro et al., who used a softmax over the labels: here each label channel is an
independent sigmoid, and ``bit_errors_per_sequence`` counts wrong channels, not wrong
labels (one wrong label is usually 2 wrong bits), hence ``accuracy_by_instance``.

Class pools (``ClassPool``):
  * ``load_omniglot``: the real data set, from the two official archives
    (``images_background.zip``, ``images_evaluation.zip``) or their extracted folders.
    Nothing is downloaded; it must already be on disk.
  * ``load_digits_pool``: a STAND-IN, scikit-learn's 8x8 hand-written digits (10 classes,
    about 180 images each), which ship inside the scikit-learn package. It is used
    because Omniglot cannot be downloaded here; with 10 classes an episode of 5 shares
    most of its classes with every other episode, so it exercises the mechanics of the
    task, not the paper's generalisation to unseen classes.

Santoro et al.'s augmentation by random 90 degree rotations of whole classes is the
``rotate`` flag (meaningful for Omniglot characters, not for digits, where a rotated 6 is
a 9); their small random translations are not implemented.
"""

import functools
import importlib.util
import io
import math
import pathlib
import zipfile
from typing import Callable, Iterator, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from core import model as model_lib
from envs import copy_task

SequenceBatch = copy_task.SequenceBatch

OMNIGLOT_SPLITS = ('background', 'evaluation')
DEFAULT_SIZE = 20     # Santoro et al.'s down-sampled side


class ClassPool(NamedTuple):
  """Images grouped by class, padded to a common count (a pytree of two arrays).

  Classes may hold different numbers of images (the digits do): each class's images come
  first along axis 1 and the rest of the row is zeros; ``counts`` says how many are real,
  and episodes never draw a padding row.
  """
  images: jax.Array  # [num_classes, per_class, D] float32 in [0, 1] (numpy from loaders)
  counts: jax.Array  # [num_classes] int32 in [1, per_class]


def stack_classes(per_class: Sequence[np.ndarray], *,
                  max_per_class: int | None = None) -> ClassPool:
  """Pads each class's ``[n_i, D]`` images to the largest ``n_i`` and stacks them.

  Args:
    per_class: one ``[n_i, D]`` array per class, values in [0, 1], ``n_i >= 1``.
    max_per_class: keep at most this many images of each class (the first ones), to
      bound the pool's size when one class has many more images than the rest.

  Raises:
    ValueError: for no classes, an empty class, unequal widths or values outside [0, 1].
  """
  if not per_class:
    raise ValueError('a class pool needs at least one class')
  if max_per_class is not None:
    copy_task.check_int('max_per_class', max_per_class, 1)
    per_class = [np.asarray(images)[:max_per_class] for images in per_class]
  arrays = [np.asarray(images, np.float32) for images in per_class]
  widths = {a.shape[1:] for a in arrays}
  if any(a.ndim != 2 for a in arrays) or len(widths) != 1:
    raise ValueError(f'each class must be [count, D] with one D, got shapes '
                     f'{sorted({a.shape for a in arrays})}')
  counts = np.array([len(a) for a in arrays], np.int32)
  if counts.min() < 1:
    raise ValueError(f'class {int(np.argmin(counts))} has no images')
  if any(a.min() < 0 or a.max() > 1 for a in arrays):
    raise ValueError('images must have values in [0, 1]')
  images = np.zeros((len(arrays), counts.max(), arrays[0].shape[1]), np.float32)
  for c, a in enumerate(arrays):
    images[c, :len(a)] = a
  return ClassPool(images=images, counts=counts)


def class_pool(images: np.ndarray, labels: np.ndarray, *,
               max_per_class: int | None = None) -> ClassPool:
  """Groups labelled images ``[M, ...]`` into a pool, one class per distinct label.

  Classes are in increasing label order and images keep their order within a class;
  each image is flattened to ``D`` values (which must be in [0, 1]).
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels)
  if labels.shape != images.shape[:1]:
    raise ValueError(f'expected one label per image, got {labels.shape} labels for '
                     f'{images.shape[0]} images')
  flat = images.reshape(len(images), -1)
  return stack_classes([flat[labels == label] for label in np.unique(labels)],
                       max_per_class=max_per_class)


def load_digits_pool(*, max_per_class: int | None = None) -> ClassPool:
  """A STAND-IN for Omniglot: scikit-learn's 8x8 digits, 10 classes of 174-183 images.

  Omniglot cannot be downloaded here, and these images ship inside the scikit-learn
  package, so they let the one-shot episodes run end to end. Pixels (0-16) are scaled
  to [0, 1]; classes are padded to 183 images (``ClassPool.counts`` has the real counts).

  Raises:
    ImportError: when scikit-learn is not installed, saying so.
  """
  try:
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    raise ImportError('the one-shot digits stand-in needs scikit-learn '
                      '(sklearn.datasets.load_digits), which is not installed') from error
  digits = datasets.load_digits()
  return class_pool(digits.images / 16.0, digits.target, max_per_class=max_per_class)


def _check_split(split: str) -> tuple[str, ...]:
  if split == 'all':
    return OMNIGLOT_SPLITS
  if split not in OMNIGLOT_SPLITS:
    raise ValueError(f"split must be one of {', '.join(OMNIGLOT_SPLITS)}, all; "
                     f'got {split!r}')
  return (split,)


def _zip_parts(name: str, split: str) -> tuple[str, str, str] | None:
  """``(alphabet, character, file)`` of an archive member that is a drawer's PNG, with or
  without the archive's top folder ``images_<split>/``; None for anything else."""
  parts = name.split('/')
  if parts and parts[0] == f'images_{split}':
    parts = parts[1:]
  if (len(parts) != 3 or not parts[2].lower().endswith('.png')
      or any(p.startswith(('.', '__MACOSX')) or not p for p in parts)):
    return None
  return parts[0], parts[1], parts[2]


def _split_pngs(root: pathlib.Path,
                split: str) -> Iterator[tuple[tuple[str, str, str], Callable[[], bytes]]]:
  """Yields ``((alphabet, character, file), read)`` for each PNG of a split, sorted.

  The extracted folder ``images_<split>/`` is read if present, else the archive
  ``images_<split>.zip`` (which stays open while the generator runs).
  """
  folder, archive = root / f'images_{split}', root / f'images_{split}.zip'
  if folder.is_dir():
    for png in sorted(folder.glob('*/*/*.png')):
      alphabet, character, name = png.relative_to(folder).parts
      yield (alphabet, character, name), png.read_bytes
  elif archive.is_file():
    try:
      zipped = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as error:
      raise ValueError(f'omniglot path {root}: images_{split}.zip is not a zip archive: '
                       f'{error}') from error
    with zipped:
      for name in sorted(zipped.namelist()):
        parts = _zip_parts(name, split)
        if parts is not None:
          yield parts, functools.partial(zipped.read, name)
  else:
    raise ValueError(f'omniglot path {root}: expected images_{split}.zip or a folder '
                     f'images_{split}/ of alphabets (<alphabet>/<character>/<drawer>.png)')


def _read_classes(root, split: str,
                  decode: Callable[[bytes, str], np.ndarray] | None) -> dict[str, list]:
  """``{'<split>/<alphabet>/<character>': [drawer, ...]}`` over the splits named by
  ``split``, classes and drawers in sorted order; a drawer is ``decode(png bytes, file
  name)``, or its file name when ``decode`` is None. Decoding happens while an archive is
  open, hence the callback."""
  root = pathlib.Path(root)
  if not root.is_dir():
    raise FileNotFoundError(f'omniglot path {root}: no such folder; expected one holding '
                            f'images_background.zip or a folder of alphabets')
  classes = {}
  for one_split in _check_split(split):
    found = 0
    for (alphabet, character, name), read in _split_pngs(root, one_split):
      file_name = f'images_{one_split}/{alphabet}/{character}/{name}'
      classes.setdefault(f'{one_split}/{alphabet}/{character}', []).append(
          file_name if decode is None else decode(read(), file_name))
      found += 1
    if not found:
      raise ValueError(f'omniglot path {root}: images_{one_split} holds no '
                       f'<alphabet>/<character>/<drawer>.png images')
  return classes


def _decode(data: bytes, name: str, *, size: int | None) -> np.ndarray:
  """A drawer's PNG as ``[size * size]`` ink coverage in [0, 1] (strokes are 1).

  Omniglot draws black strokes on white, so the grey level is inverted: the pool's
  background is 0, as the zeros of the padding and of the label channels. Down-sampling
  averages over each output pixel's area (a box filter), so a value is the fraction of
  ink it covers, without the ringing of a sharper filter.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(io.BytesIO(data)) as image:
      grey = image.convert('L').convert('F')
  except OSError as error:
    raise ValueError(f'cannot read {name} as an image: {error}') from error
  if size is not None and grey.size != (size, size):
    grey = grey.resize((size, size), Image.Resampling.BOX)
  ink = 1.0 - np.asarray(grey, np.float32) / 255.0
  return np.clip(ink, 0.0, 1.0).reshape(-1)


def omniglot_classes(path, split: str = 'background') -> list[str]:
  """The class names ``'<split>/<alphabet>/<character>'`` in ``load_omniglot``'s order."""
  return list(_read_classes(path, split, decode=None))


def load_omniglot(path, split: str = 'background', *, size: int | None = DEFAULT_SIZE,
                  max_per_class: int | None = None) -> ClassPool:
  """Reads Omniglot (Lake et al. 2015) from disk into a class pool.

  Args:
    path: the folder holding ``images_background.zip`` / ``images_evaluation.zip``, or
      their extracted folders ``images_<split>/<alphabet>/<character>/<drawer>.png``
      (an extracted folder is preferred to its archive when both are there).
    split: ``'background'`` (964 characters, 30 alphabets), ``'evaluation'`` (659, 20
      alphabets) or ``'all'``. Santoro et al. trained on 1200 characters and tested on
      the other 423; to reproduce that, split the classes of ``'all'`` yourself.
    size: the side images are resized to (20 as in Santoro et al.); None keeps 105.
    max_per_class: keep at most this many drawers per character (all 20 by default).

  Returns:
    ``ClassPool`` with ``images [C, 20, size * size]``, ink as 1, in the order of
    ``omniglot_classes``; drawers in file-name order.

  Raises:
    ImportError: without Pillow.
    FileNotFoundError: when ``path`` is not a folder.
    ValueError: when a split's archive or folder is missing, empty or holds a file that
      is not an image; the message names what was expected.
  """
  if size is not None:
    copy_task.check_int('size', size, 1)
  if importlib.util.find_spec('PIL') is None:   # before any file is read
    raise ImportError('reading Omniglot needs Pillow (PIL), which is not installed')
  classes = _read_classes(path, split, functools.partial(_decode, size=size))
  return stack_classes([np.stack(drawers) for drawers in classes.values()],
                       max_per_class=max_per_class)


def check_pool(pool: ClassPool, *, num_classes: int, samples_per_class: int,
               rotate: bool = False) -> None:
  """Raises ValueError unless every episode can be drawn from ``pool`` (concrete).

  An episode needs ``num_classes`` distinct classes, each with ``samples_per_class``
  distinct images; rotations need square images.
  """
  copy_task.check_int('num_classes', num_classes, 2)
  copy_task.check_int('samples_per_class', samples_per_class, 1)
  if not isinstance(rotate, bool):
    raise ValueError(f'rotate must be a boolean, got {rotate!r}')
  images, counts = np.asarray(pool.images), np.asarray(pool.counts)
  if images.ndim != 3 or counts.shape != images.shape[:1]:
    raise ValueError(f'a class pool is images [C, N, D] and counts [C], got '
                     f'{images.shape} and {counts.shape}')
  if num_classes > images.shape[0]:
    raise ValueError(f'num_classes must be <= the pool\'s {images.shape[0]} classes, '
                     f'got {num_classes}')
  if samples_per_class > counts.min():
    raise ValueError(f'samples_per_class must be <= the fewest images of a class '
                     f'({counts.min()}), got {samples_per_class}')
  if rotate:
    _side(images.shape[-1])


def _side(width: int) -> int:
  side = math.isqrt(width)
  if side * side != width:
    raise ValueError(f'rotate needs square images, got {width} pixels')
  return side


def _rotate(images: jax.Array, quarters: jax.Array) -> jax.Array:
  """``images [T, D]`` (square), each turned by ``quarters [T]`` x 90 degrees."""
  side = _side(images.shape[-1])
  square = images.reshape(-1, side, side)
  turned = jnp.stack([jnp.rot90(square, k, axes=(1, 2)) for k in range(4)])  # [4, T, s, s]
  picked = turned[quarters, jnp.arange(square.shape[0])]
  return picked.reshape(images.shape)


def _episode(key: jax.Array, pool: ClassPool, num_classes: int, samples_per_class: int,
             rotate: bool) -> tuple[jax.Array, jax.Array]:
  """One episode's images ``[T, D]`` and labels ``[T]`` int32.

  Every random choice is an argsort of random 32-bit words, all cut from one draw: one
  hash and plain sorts compile much faster than a ``jax.random.permutation`` per choice.
  A tie of two words (odds about ``C^2 / 2^33`` for ``C`` classes) only keeps their index
  order.
  """
  total_classes, per_class, _ = pool.images.shape
  steps = num_classes * samples_per_class
  sizes = (total_classes, num_classes, num_classes * per_class, steps, num_classes)
  words = jax.random.bits(key, (sum(sizes),), jnp.uint32)
  class_words, label_words, row_words, order_words, turn_words = jnp.split(
      words, np.cumsum(sizes)[:-1])
  classes = jnp.argsort(class_words)[:num_classes]               # [n] distinct classes
  labels = jnp.argsort(label_words)                               # label of slot j
  # Distinct images of each class; padding rows get the largest word and sort last
  # (after real rows, even on a tie, as the sort is stable and they come later).
  real = jnp.arange(per_class)[None, :] < pool.counts[classes][:, None]
  row_words = jnp.where(real, row_words.reshape(num_classes, per_class),
                        jnp.uint32(np.iinfo(np.uint32).max))
  rows = jnp.argsort(row_words, axis=1)[:, :samples_per_class]    # [n, k]
  slot = jnp.repeat(jnp.arange(num_classes), samples_per_class)  # slot of rows.ravel()
  order = jnp.argsort(order_words)                                # presentation order
  slot, row = slot[order], rows.reshape(-1)[order]
  images = pool.images[classes[slot], row]                        # [T, D]
  if rotate:
    quarters = (turn_words % 4).astype(jnp.int32)                 # one turn per class
    images = _rotate(images, quarters[slot])
  return images, labels[slot]


# Jitted so that an eager caller compiles once, not op by op; a jitted caller inlines it.
@functools.partial(jax.jit, static_argnames=('batch_size', 'num_classes',
                                             'samples_per_class', 'rotate'))
def sample(key: jax.Array, pool: ClassPool, *, batch_size: int, num_classes: int = 5,
           samples_per_class: int = 10, rotate: bool = False) -> SequenceBatch:
  """One batch of one-shot episodes (see the module docstring).

  Args:
    key: the episodes' key.
    pool: where images come from (see ``check_pool`` for what it must allow).
    batch_size: episodes in the batch.
    num_classes: classes (and labels) per episode.
    samples_per_class: presentations of each class; ``T = num_classes *
      samples_per_class``.
    rotate: turn each episode's classes by a random multiple of 90 degrees.

  Raises:
    ValueError: when the pool's shape cannot hold an episode (its counts are checked by
      ``check_pool``, which needs concrete values).
  """
  total_classes, per_class, _ = pool.images.shape
  if num_classes > total_classes or samples_per_class > per_class:
    raise ValueError(f'an episode of {num_classes} classes x {samples_per_class} images '
                     f'does not fit a pool of {total_classes} classes x {per_class}')
  images, labels = jax.vmap(
      lambda k: _episode(k, pool, num_classes, samples_per_class, rotate))(
          jax.random.split(key, batch_size))                      # [B, T, D], [B, T]
  images, labels = jnp.swapaxes(images, 0, 1), jnp.swapaxes(labels, 0, 1)
  targets = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)  # [T, B, n]
  previous = jnp.concatenate([jnp.zeros_like(targets[:1]), targets[:-1]])
  inputs = jnp.concatenate([images.astype(jnp.float32), previous], axis=-1)
  return SequenceBatch(inputs, targets, jnp.ones(labels.shape, jnp.float32))


@jax.jit
def instance_numbers(targets: jax.Array) -> jax.Array:
  """``[T, B]`` int32: how many times step t's class was shown before t (0 = first).

  Read from the one-hot ``targets [T, B, n]`` alone, so any batch of ``sample`` works.
  """
  before = jnp.cumsum(targets, axis=0) - targets
  return jnp.sum(before * targets, axis=-1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=('num_instances',))
def accuracy_by_instance(predictions: jax.Array, targets: jax.Array, *,
                         num_instances: int, mask: jax.Array | None = None) -> jax.Array:
  """Accuracy at the 1st, 2nd, ... presentation of a class: the one-shot result.

  Santoro et al. report these (the 1st is chance, ``1 / n`` at best; one-shot learning
  shows as a high 2nd). Jitted (once per argument shapes and ``num_instances``).

  Args:
    predictions: ``[T, B, n]`` scores (logits; the argmax is the label) or ``[T, B]``
      predicted labels.
    targets: ``[T, B, n]`` one-hot, as ``sample``'s.
    num_instances: how many instances to report (``samples_per_class``); later ones
      are left out.
    mask: ``[T, B]`` steps to count (all by default).

  Returns:
    ``[num_instances]`` float32; NaN for an instance no counted step has.
  """
  labels = jnp.argmax(targets, axis=-1)
  if predictions.ndim == targets.ndim:
    predictions = jnp.argmax(predictions, axis=-1)
  correct = (predictions == labels).astype(jnp.float32)
  weight = jnp.ones_like(correct) if mask is None else mask.astype(jnp.float32)
  by_instance = jax.nn.one_hot(instance_numbers(targets), num_instances) * weight[..., None]
  counted = by_instance.sum(axis=(0, 1))
  right = (by_instance * correct[..., None]).sum(axis=(0, 1))
  return jnp.where(counted > 0, right / jnp.maximum(counted, 1.0), jnp.nan)


def make(pool: ClassPool, *, batch_size: int = 16, num_classes: int = 5,
         samples_per_class: int = 10, rotate: bool = False) -> model_lib.DataSource:
  """One-shot episodes over ``pool`` as a stateless data source.

  The pool is put on the device once and closed over, so it becomes a constant of the
  programs that sample from it (about 31 MB for Omniglot's background set at 20x20).

  Raises:
    ValueError: naming the argument, for a size out of range or a pool too small.
  """
  copy_task.check_int('batch_size', batch_size, 1)
  check_pool(pool, num_classes=num_classes, samples_per_class=samples_per_class,
             rotate=rotate)
  on_device = ClassPool(jnp.asarray(pool.images, jnp.float32),
                        jnp.asarray(pool.counts, jnp.int32))
  return model_lib.stateless(
      lambda key: sample(key, on_device, batch_size=batch_size, num_classes=num_classes,
                         samples_per_class=samples_per_class, rotate=rotate),
      batch_size=batch_size, batch_axis=1)


def make_digits(*, batch_size: int = 16, num_classes: int = 5,
                samples_per_class: int = 10) -> model_lib.DataSource:
  """One-shot episodes over the digits STAND-IN (``load_digits_pool``), not Omniglot.

  No ``rotate``: a turned digit can be another digit.
  """
  return make(load_digits_pool(), batch_size=batch_size, num_classes=num_classes,
              samples_per_class=samples_per_class)


def make_omniglot(*, path: str | None = None, split: str = 'background',
                  size: int | None = DEFAULT_SIZE, batch_size: int = 16,
                  num_classes: int = 5,
                  samples_per_class: int = 10,
                  rotate: bool = False) -> model_lib.DataSource:
  """One-shot episodes over Omniglot read from ``path`` (see ``load_omniglot``).

  Raises:
    ValueError: without ``path``, for a path that does not hold Omniglot (the message
      says what was expected), or for a bad argument.
  """
  if not path:
    raise ValueError('path must name the folder holding Omniglot (images_background.zip '
                     'and images_evaluation.zip, or their extracted folders); it is not '
                     'downloaded')
  try:
    pool = load_omniglot(path, split, size=size)
  except OSError as error:
    raise ValueError(str(error)) from error
  return make(pool, batch_size=batch_size, num_classes=num_classes,
              samples_per_class=samples_per_class, rotate=rotate)
