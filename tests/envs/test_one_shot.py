"""One-shot episodes: Omniglot is read as laid out, episodes follow Santoro et al.'s rules.

The Omniglot archives are built here, small, from generated PNGs: image (class i, drawer
j) has ink on the top-left ``15 (i + 1)`` rows by ``15 (j + 1)`` columns, so at 7x7 (105 /
15) it is exactly the block ``[:i + 1, :j + 1]`` and any mix-up of classes, drawers or
pixels shows.
"""

import io
import zipfile

import jax
import numpy as np
import pytest
from PIL import Image

from envs import one_shot
from envs import task_registry

# split -> alphabet -> character -> drawers; Beta's character has one drawer fewer.
LAYOUT = {
    'background': {'Alpha': {'character01': 3, 'character02': 3},
                   'Beta': {'character01': 2}},
    'evaluation': {'Gamma': {'character01': 3}},
}
BACKGROUND = ['background/Alpha/character01', 'background/Alpha/character02',
              'background/Beta/character01']


def _png(i: int, j: int) -> bytes:
  white = np.ones((105, 105), bool)      # Omniglot: black strokes on white, mode '1'
  white[:15 * (i + 1), :15 * (j + 1)] = False
  buffer = io.BytesIO()
  Image.fromarray(white).save(buffer, format='PNG')
  return buffer.getvalue()


def _expected(i: int, j: int, side: int = 7) -> np.ndarray:
  block = np.zeros((side, side), np.float32)
  block[:i + 1, :j + 1] = 1.0
  return block.reshape(-1)


def _members():
  """``(split, relative path, bytes)`` of every file, classes numbered across splits."""
  i = 0
  for split, alphabets in LAYOUT.items():
    for alphabet, characters in alphabets.items():
      for character, drawers in characters.items():
        for j in reversed(range(drawers)):   # written out of order: reading sorts
          yield split, f'{alphabet}/{character}/{i + 1:04d}_{j + 1:02d}.png', _png(i, j)
        yield split, f'{alphabet}/{character}/notes.txt', b'not an image'
        i += 1


def _write(root, form: str):
  for split, relative, data in _members():
    if form == 'folder':
      path = root / f'images_{split}' / relative
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_bytes(data)
    else:
      top = f'images_{split}/' if form == 'zip' else ''
      with zipfile.ZipFile(root / f'images_{split}.zip', 'a') as archive:
        archive.writestr(top + relative, data)
        archive.writestr(f'__MACOSX/{top}{relative}', b'resource fork')
  return root


@pytest.mark.parametrize('form', ['folder', 'zip', 'zip_without_top_folder'])
def test_omniglot_reads_classes_drawers_and_pixels(tmp_path, form):
  root = _write(tmp_path, form)
  assert one_shot.omniglot_classes(root) == BACKGROUND
  pool = one_shot.load_omniglot(root, size=7)
  images, counts = np.asarray(pool.images), np.asarray(pool.counts)
  assert images.shape == (3, 3, 49) and images.dtype == np.float32
  np.testing.assert_array_equal(counts, [3, 3, 2])
  for i, count in enumerate(counts):
    for j in range(count):
      np.testing.assert_allclose(images[i, j], _expected(i, j), atol=1e-6)
  assert not images[2, 2].any()          # Beta's missing drawer is padding


def test_splits_and_the_default_size(tmp_path):
  root = _write(tmp_path, 'folder')
  assert one_shot.omniglot_classes(root, 'evaluation') == ['evaluation/Gamma/character01']
  assert one_shot.omniglot_classes(root, 'all') == BACKGROUND + [
      'evaluation/Gamma/character01']
  gamma = np.asarray(one_shot.load_omniglot(root, 'evaluation', size=7).images)
  np.testing.assert_allclose(gamma[0, 1], _expected(3, 1), atol=1e-6)
  pool = one_shot.load_omniglot(root, 'evaluation')      # 20x20 as Santoro et al.
  images = np.asarray(pool.images)
  assert images.shape == (1, 3, 400)
  assert images.min() >= 0 and images.max() <= 1
  # A box filter keeps the ink's share: drawer j covers 60 x 15 (j + 1) of 105 x 105.
  np.testing.assert_allclose(images[0].mean(-1), [60 * 15 * (j + 1) / 105**2
                                                  for j in range(3)], atol=0.01)
  assert images[0, 0].reshape(20, 20)[0, 0] == 1 and images[0, 0].reshape(20, 20)[-1, -1] == 0


def test_what_is_missing_or_wrong_is_named(tmp_path):
  with pytest.raises(ValueError, match='expected images_background.zip or a folder'):
    one_shot.load_omniglot(tmp_path)
  with pytest.raises(FileNotFoundError, match='no such folder'):
    one_shot.load_omniglot(tmp_path / 'absent')
  with pytest.raises(ValueError, match='split must be one of background, evaluation'):
    one_shot.load_omniglot(tmp_path, 'train')
  (tmp_path / 'images_background' / 'Alpha').mkdir(parents=True)
  with pytest.raises(ValueError, match='images_background holds no <alphabet>'):
    one_shot.load_omniglot(tmp_path)
  (tmp_path / 'images_evaluation.zip').write_bytes(b'not a zip')
  with pytest.raises(ValueError, match='images_evaluation.zip is not a zip archive'):
    one_shot.load_omniglot(tmp_path, 'evaluation')
  bad = tmp_path / 'images_background' / 'Alpha' / 'character01' / '0001_01.png'
  bad.parent.mkdir()
  bad.write_bytes(b'not a png')
  with pytest.raises(ValueError, match='cannot read .*Alpha/character01/0001_01.png'):
    one_shot.load_omniglot(tmp_path)


def test_class_pool_groups_pads_and_caps():
  images = np.arange(7 * 4, dtype=np.float32).reshape(7, 2, 2) / 100
  labels = np.array([5, 2, 5, 5, 2, 9, 5])
  pool = one_shot.class_pool(images, labels)
  np.testing.assert_array_equal(pool.counts, [2, 4, 1])     # labels 2, 5, 9
  np.testing.assert_array_equal(pool.images[1], images[[0, 2, 3, 6]].reshape(4, 4))
  np.testing.assert_array_equal(pool.images[2, 1:], 0)
  capped = one_shot.class_pool(images, labels, max_per_class=2)
  np.testing.assert_array_equal(capped.counts, [2, 2, 1])
  np.testing.assert_array_equal(capped.images[1], images[[0, 2]].reshape(2, 4))
  with pytest.raises(ValueError, match=r'values in \[0, 1\]'):
    one_shot.class_pool(images * 100, labels)


def _coded_pool(counts):
  """Image (c, r) is ``[(c + 1) / 16, (r + 1) / 16]``; padding rows are zeros."""
  images = np.zeros((len(counts), max(counts), 2), np.float32)
  for c, count in enumerate(counts):
    for r in range(count):
      images[c, r] = [(c + 1) / 16, (r + 1) / 16]
  return one_shot.ClassPool(images, np.array(counts, np.int32))


N, K, BATCH = 4, 3, 32   # classes per episode, presentations of each, episodes


@pytest.fixture(scope='module')
def episodes():
  """A pool of 7 classes of 3-6 images and a batch from it (compiled once, shared)."""
  pool = _coded_pool([6, 5, 3, 4, 3, 6, 5])
  return pool, one_shot.sample(jax.random.PRNGKey(0), pool, batch_size=BATCH,
                               num_classes=N, samples_per_class=K)


def test_episodes_show_each_class_equally_under_a_random_labelling(episodes):
  pool, batch = episodes
  inputs, targets, mask = map(np.asarray, batch)
  assert inputs.shape == (N * K, BATCH, 2 + N) and targets.shape == (N * K, BATCH, N)
  np.testing.assert_array_equal(mask, 1)
  np.testing.assert_array_equal(targets.sum(-1), 1)
  # The label part of the input is the previous step's target, nothing at the start.
  assert not inputs[0, :, 2:].any()
  np.testing.assert_array_equal(inputs[1:, :, 2:], targets[:-1])
  codes = np.rint(inputs[:, :, :2] * 16).astype(int) - 1     # [T, B, (class, row)]
  labels = targets.argmax(-1)
  label_of_first_class = []
  for b in range(BATCH):
    classes, rows = codes[:, b, 0], codes[:, b, 1]
    shown, times = np.unique(classes, return_counts=True)
    assert len(shown) == N and (times == K).all()
    mapping = {}
    for c in shown:
      at = classes == c
      assert len(set(rows[at])) == K and rows[at].max() < pool.counts[c]   # no padding
      assert len(set(labels[at, b])) == 1
      mapping[c] = labels[at, b][0]
    assert sorted(mapping.values()) == list(range(N))
    label_of_first_class.append(mapping[shown.min()])
  assert len(set(label_of_first_class)) == N      # labels are not tied to the classes
  assert len(set(codes[:, :, 0].min(0))) > 1      # any class may be picked ...
  assert len(set(map(tuple, codes[:, :, 0].T))) == BATCH   # ... in any order
  again = one_shot.sample(jax.random.PRNGKey(0), pool, batch_size=BATCH, num_classes=N,
                          samples_per_class=K)
  other = one_shot.sample(jax.random.PRNGKey(1), pool, batch_size=BATCH, num_classes=N,
                          samples_per_class=K)
  np.testing.assert_array_equal(inputs, again.inputs)
  assert not np.array_equal(inputs, other.inputs)


def test_rotation_turns_each_class_of_an_episode_as_a_whole():
  images = np.random.default_rng(0).uniform(size=(5, 4, 9)).astype(np.float32)
  pool = one_shot.ClassPool(images, np.full(5, 4, np.int32))
  source = {}
  for c in range(5):
    for r in range(4):
      for quarters in range(4):
        turned = np.rot90(images[c, r].reshape(3, 3), quarters)
        source[np.round(turned, 5).tobytes()] = (c, quarters)
  batch = one_shot.sample(jax.random.PRNGKey(3), pool, batch_size=16, num_classes=3,
                          samples_per_class=4, rotate=True)
  seen = set()
  for b in range(16):
    turns = {}
    for t in range(12):
      c, quarters = source[np.round(np.asarray(batch.inputs[t, b, :9]).reshape(3, 3),
                                    5).tobytes()]
      turns.setdefault(c, set()).add(quarters)
    assert all(len(q) == 1 for q in turns.values())
    seen |= set().union(*turns.values())
  assert seen == {0, 1, 2, 3}


def test_accuracy_by_instance(episodes):
  _, batch = episodes
  labels = np.asarray(batch.targets).argmax(-1)
  instance = np.asarray(one_shot.instance_numbers(batch.targets))
  for b in range(BATCH):
    for t in range(N * K):
      assert instance[t, b] == (labels[:t, b] == labels[t, b]).sum()
  # Wrong at every 1st instance, and at the 2nd in the first half of the rows.
  first_half = np.arange(BATCH) < BATCH // 2
  wrong = (instance == 0) | ((instance == 1) & first_half)
  predicted = np.where(wrong, (labels + 1) % N, labels)
  accuracy = one_shot.accuracy_by_instance(5 * jax.nn.one_hot(predicted, N), batch.targets,
                                           num_instances=K + 1)   # from logits
  np.testing.assert_allclose(accuracy[:K], [0, 0.5, 1])
  assert np.isnan(accuracy[K])                     # no 4th presentation
  mask = np.broadcast_to(first_half, labels.shape).astype(np.float32)
  np.testing.assert_allclose(one_shot.accuracy_by_instance(
      predicted, batch.targets, num_instances=K, mask=mask), [0, 0, 1])


def test_registered_omniglot_needs_a_path_and_samples_from_it(tmp_path):
  with pytest.raises(ValueError, match="task 'one_shot_omniglot': path must name"):
    task_registry.make('one_shot_omniglot')
  with pytest.raises(ValueError, match="one_shot_omniglot': omniglot path .*no such"):
    task_registry.make('one_shot_omniglot', path=str(tmp_path / 'absent'))
  root = str(_write(tmp_path, 'zip'))
  with pytest.raises(ValueError, match=r'samples_per_class must be <= .*\(2\)'):
    task_registry.make('one_shot_omniglot', path=root, size=7, num_classes=2,
                       samples_per_class=3)
  with pytest.raises(ValueError, match='num_classes must be <='):
    task_registry.make('one_shot_omniglot', path=root, size=7, num_classes=4)
  source = task_registry.make('one_shot_omniglot', path=root, size=7, batch_size=3,
                              num_classes=2, samples_per_class=2, rotate=True)
  assert source.batch_axis == 1 and source.batch_size == 3
  batch = jax.eval_shape(source.sample, source.init(), jax.random.PRNGKey(0))  # no compile
  assert batch.inputs.shape == (4, 3, 49 + 2) and batch.targets.shape == (4, 3, 2)


def test_digits_stand_in():
  pytest.importorskip('sklearn', reason='the digits stand-in needs scikit-learn')
  pool = one_shot.load_digits_pool()
  counts = np.asarray(pool.counts)
  assert pool.images.shape == (10, counts.max(), 64) and counts.sum() == 1797
  assert counts.min() >= 170 and np.asarray(pool.images).max() == 1.0
  source = task_registry.make('one_shot_digits', batch_size=2)
  batch = source.sample(source.init(), jax.random.PRNGKey(0))
  assert batch.inputs.shape == (50, 2, 64 + 5) and batch.targets.shape == (50, 2, 5)
  with pytest.raises(ValueError, match="one_shot_digits' got unknown argument.*rotate"):
    task_registry.make('one_shot_digits', rotate=True)
