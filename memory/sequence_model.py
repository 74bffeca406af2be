"""A sequence predictor over any recurrent core, for the memory models' algorithmic tasks.

The core (an LSTM, NTM, DNC, SAM, ...) reads ``inputs[t]``; a linear readout of its output
predicts ``targets[t]``, either

  bits     independent bits (copy, recall, sort): the sigmoid cross-entropy of the scored
           steps, summed over bits and time and averaged over the batch, in nats; the
           metrics give it in bits per sequence (the cost the SAM paper plots) and count
           wrong bits;
  classes  one class of the one-hot targets (one-shot classification): the softmax
           cross-entropy, summed over time and averaged over the batch; the metrics give
           the error rate over all scored steps and over the steps whose class the
           sequence showed before (the one-shot error: the first sight of a class can
           only be guessed).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from core import model as model_lib
from core import recurrent


OUTPUTS = ('bits', 'classes')


def make_model(core: recurrent.RecurrentCore, output_size: int,
               output: str = 'bits', skip_chunk: int | None = None) -> model_lib.Model:
  """A ``core.model.Model`` over batches with ``inputs [T, B, I]``, ``targets [T, B, O]``
  and ``mask [T, B]`` (e.g. ``envs.copy_task.SequenceBatch``); ``output`` is one of
  ``OUTPUTS`` (see the module docstring).

  Steps after a batch's last scored step cannot change its loss, so with ``skip_chunk``
  the core is not run there, in chunks of that many steps (``core.unroll.unroll``'s
  ``active_steps``): a batch padded to a curriculum's cap costs about what its own longest
  sequence does. None runs every step: where batches fill their length the skipping only
  costs (SAM at 2,048 rows, copy padded to 257 steps: 8× faster at levels up to 8, 3× at
  32, 0.95× at the cap; ``scripts/bench_padded_unroll.py``, results/bench/padded_unroll.json).
  """
  if output not in OUTPUTS:
    raise ValueError(f'output: expected one of {OUTPUTS}, got {output!r}')
  readout = nn.Dense(output_size)

  def init(key, batch) -> dict[str, Any]:
    core_key, state_key, readout_key = jax.random.split(key, 3)
    x = batch.inputs[0]
    core_params = core.init(core_key, x)
    state = core.initial_state(core_params, state_key, x.shape[0])
    _, y = core.step(core_params, state, x)
    return {'core': core_params, 'readout': readout.init(readout_key, y)}

  def predict(params, batch, key):
    num_steps, batch_size = batch.mask.shape
    state = core.initial_state(params['core'], key, batch_size)
    first = jnp.zeros((num_steps, batch_size), bool)  # one sequence per row: no resets
    skip = {}
    if skip_chunk is not None:
      scored = jnp.any(batch.mask > 0, axis=1)
      skip = dict(skip_chunk=skip_chunk, active_steps=jnp.max(
          jnp.where(scored, jnp.arange(1, num_steps + 1), 0)))
    outputs, _ = recurrent.unroll(core, params['core'], state, batch.inputs, first, **skip)
    return readout.apply(params['readout'], outputs)   # [T, B, O] logits

  def bits_loss(params, batch, key):
    logits = predict(params, batch, key)
    xent = optax.sigmoid_binary_cross_entropy(logits, batch.targets).sum(-1) * batch.mask
    nats_per_sequence = jnp.sum(xent) / batch.mask.shape[1]
    wrong = ((logits > 0) != (batch.targets > 0.5)).sum(-1) * batch.mask
    return nats_per_sequence, {
        'loss': nats_per_sequence,
        'bits_per_sequence': nats_per_sequence / jnp.log(2.0),
        'bit_errors_per_sequence': jnp.sum(wrong) / batch.mask.shape[1],
    }

  def classes_loss(params, batch, key):
    logits = predict(params, batch, key)
    xent = optax.softmax_cross_entropy(logits, batch.targets) * batch.mask
    nats_per_sequence = jnp.sum(xent) / batch.mask.shape[1]
    wrong = (jnp.argmax(logits, -1) != jnp.argmax(batch.targets, -1)) * batch.mask
    # Steps whose class appeared earlier in the sequence.
    seen = jnp.sum((jnp.cumsum(batch.targets, axis=0) - batch.targets) * batch.targets,
                   axis=-1) > 0
    seen_mask = batch.mask * seen
    return nats_per_sequence, {
        'loss': nats_per_sequence,
        'error': jnp.sum(wrong) / jnp.maximum(jnp.sum(batch.mask), 1.0),
        'error_seen_before': (jnp.sum(wrong * seen_mask)
                              / jnp.maximum(jnp.sum(seen_mask), 1.0)),
    }

  return model_lib.Model(init=init, loss=bits_loss if output == 'bits' else classes_loss)
