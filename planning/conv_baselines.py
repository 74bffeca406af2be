"""The predictron paper's baselines: deep convolutional nets of matched depth.

``depth`` layers of 3×3 convolutions with 32 channels and a layer norm (as the
predictron's, ``planning/predictron.py``), after the same two-layer state
representation, then a 2-layer MLP of 32 units to the predictions:

  feedforward   a different layer at each depth: x ← relu(norm(conv(x)))
  recurrent     one layer applied ``depth`` times (the shared predictron core's weights
                count)
  skip          either as residual blocks: x ← x + conv(relu(norm(x))) (pre-activation,
                so a block can lower x as well as raise it), and relu(norm(x)) after the
                last one before the head. Adding the plain layer's output instead (all
                ≥ 0 after its ReLU) only ever grows x, by about one per layer: such nets
                learnt the mazes worse than the plain ones at every depth (their runs
                are in results/predictron/runs/ at commit 984da1c).

Trained on ``½ ‖y_pred − y‖²`` (summed over predictions, mean over the batch).
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from core import model as model_lib
from planning import predictron


class ConvNet(nn.Module):
  outputs: int
  depth: int
  recurrent: bool = False
  skip: bool = False

  @nn.compact
  def __call__(self, inputs):
    x = predictron.conv_layer(predictron.conv_layer(inputs, 'representation_0'),
                              'representation_1')
    shared = predictron.conv('layer')
    shared_norm = nn.LayerNorm(name='layer_norm')
    for k in range(self.depth):
      if self.skip:
        conv = shared if self.recurrent else predictron.conv(f'layer_{k}')
        norm = shared_norm if self.recurrent else nn.LayerNorm(name=f'layer_{k}_norm')
        x = x + conv(nn.relu(norm(x)))
      elif self.recurrent:
        x = nn.relu(shared_norm(shared(x)))
      else:
        x = predictron.conv_layer(x, f'layer_{k}')
    if self.skip:
      x = nn.relu(nn.LayerNorm(name='final_norm')(x))
    return predictron.Head(self.outputs, name='output')(x)


def make_model(*, outputs: int, depth: int = 16, recurrent: bool = False,
               skip: bool = False) -> model_lib.Model:
  """A baseline over batches with ``inputs [B, H, W, C]`` and ``targets [B, outputs]``."""
  for name, value in (('outputs', outputs), ('depth', depth)):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f'{name} must be an integer >= 1, got {value!r}')
  net = ConvNet(outputs, depth, recurrent, skip)

  def init(key, batch) -> Any:
    return net.init(key, batch.inputs)

  def loss(params, batch, key):
    del key
    prediction = net.apply(params, batch.inputs)
    total = 0.5 * jnp.mean(jnp.sum(jnp.square(prediction - batch.targets), -1))
    return total, {'loss': total,
                   'rmse': jnp.sqrt(jnp.mean(jnp.square(prediction - batch.targets)))}

  return model_lib.Model(init=init, loss=loss)


