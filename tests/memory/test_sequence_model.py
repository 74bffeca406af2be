"""The sequence model's two outputs: bits (sigmoid per bit) and classes (softmax, with the
one-shot error over steps whose class was shown before)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core.nn import lstm
from envs import copy_task
from memory import cores
from memory import sequence_model


def _batch(labels, num_classes=3):
  targets = jax.nn.one_hot(jnp.asarray(labels).T, num_classes)      # [T, B, n]
  inputs = jnp.zeros(targets.shape[:2] + (2,))
  return copy_task.SequenceBatch(inputs, targets, jnp.ones(targets.shape[:2]))


def _model_with_readout(output, logits_of_step):
  """The model with its readout replaced so that its logits are ``logits_of_step``."""
  model = sequence_model.make_model(lstm.lstm_core(4), 3, output)
  batch = _batch([[0, 1, 0, 2]])
  params = model.init(jax.random.PRNGKey(0), batch)
  readout = params['readout']['params']
  # Zero kernel: the logits are the bias, the same at every step.
  params['readout']['params'] = {'kernel': jnp.zeros_like(readout['kernel']),
                                 'bias': jnp.asarray(logits_of_step, jnp.float32)}
  return model, params, batch


def test_classes_error_counts_wrong_labels_and_the_seen_before_steps():
  # Always predicts class 0; labels 0, 1, 0, 2: wrong at steps 1 and 3 (error 1/2); only
  # step 2 shows a class seen before, and it is right (error 0).
  model, params, batch = _model_with_readout('classes', [5.0, 0.0, 0.0])
  loss, metrics = model.loss(params, batch, None)
  assert float(metrics['error']) == pytest.approx(0.5)
  assert float(metrics['error_seen_before']) == pytest.approx(0.0)
  expected = -np.sum(np.log(jax.nn.softmax(jnp.array([5.0, 0, 0])))[[0, 1, 0, 2]])
  assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_bits_output_counts_wrong_bits():
  model, params, batch = _model_with_readout('bits', [5.0, -5.0, -5.0])
  _, metrics = model.loss(params, batch, None)
  # Predicted bits 1,0,0 at every step: targets 100, 010, 100, 001 differ in 0, 2, 0, 2.
  assert float(metrics['bit_errors_per_sequence']) == pytest.approx(4.0)


def test_unknown_output_is_named():
  with pytest.raises(ValueError, match='output: expected one of'):
    sequence_model.make_model(lstm.lstm_core(4), 3, 'softmax')


# SAM: its custom backward inside the skipping cond (compiles for ~15 s: slow).
@pytest.mark.parametrize('core_name', ['lstm', pytest.param('sam', marks=pytest.mark.slow)])
def test_skipping_the_unscored_tail_changes_neither_loss_nor_gradients(core_name):
  # Lengths 3 and 5 padded to a curriculum cap of 20: T = 41, scored steps end at 10.
  batch = copy_task.sample_with_lengths(jax.random.PRNGKey(0), jnp.array([3, 5]), bits=3,
                                        max_length=20)
  core = cores.make_core(core_name, controller_size=8, num_rows=12, word_size=4,
                         num_reads=2, k=2)
  full = sequence_model.make_model(core, 3, 'bits', skip_chunk=None)
  skipping = sequence_model.make_model(core, 3, 'bits', skip_chunk=4)
  params = full.init(jax.random.PRNGKey(1), batch)
  grad_of = lambda model, batch: jax.jit(jax.grad(model.loss, has_aux=True))(params, batch,
                                                                              None)
  (full_grads, full_metrics), (skip_grads, skip_metrics) = (grad_of(full, batch),
                                                            grad_of(skipping, batch))
  for name in full_metrics:
    np.testing.assert_allclose(skip_metrics[name], full_metrics[name], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               skip_grads, full_grads)
  # The tail really is skipped: NaN inputs after the last scored chunk (steps 13-40 of
  # 41, chunks of 4 from step 1) poison the full model's loss (0 x NaN under the mask) but
  # not the skipping one's, nor its gradients.
  poisoned = batch._replace(inputs=batch.inputs.at[13:].set(jnp.nan))
  assert not np.isfinite(float(full.loss(params, poisoned, None)[0]))
  grads, metrics = grad_of(skipping, poisoned)
  assert np.isfinite(float(metrics['loss']))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
