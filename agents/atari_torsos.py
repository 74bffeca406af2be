"""The IMPALA paper's Atari torsos (arXiv 1802.01561, Fig. 3), on recurrax's CPU-fast layers.

Frames arrive as uint8 ``[N, 84, 84, C]`` (NHWC), so the host-to-device copy stays uint8.
The first convolution scales them to [0, 1] (``input_scale``); on the matmul path it does so
one batch chunk at a time, so the float frames of a whole batch (76 MB for an update of
32 x 21 frames) are never written. ``conv_implementation`` picks the path of ``core.nn``'s
convolution and max-pool ('auto': matmul-based on CPU, XLA's own ops elsewhere).
"""

import flax.linen as nn

from core.nn import conv
from core.nn import max_pool


FRAME_SCALE = 1.0 / 255.0


class ShallowTorso(nn.Module):
  """Conv 16×8×8 stride 4, conv 32×4×4 stride 2, dense 256 (the A3C/DQN-2013 net)."""
  conv_implementation: str = 'auto'

  @nn.compact
  def __call__(self, x):
    impl = self.conv_implementation
    x = nn.relu(conv.Conv(16, (8, 8), strides=(4, 4), padding='VALID',
                          implementation=impl, input_scale=FRAME_SCALE)(x))
    x = nn.relu(conv.Conv(32, (4, 4), strides=(2, 2), padding='VALID',
                          implementation=impl)(x))
    x = x.reshape((x.shape[0], -1))
    return nn.relu(nn.Dense(256)(x))


class ResidualBlock(nn.Module):
  """relu -> conv 3×3 -> relu -> conv 3×3, plus the input."""
  channels: int
  conv_implementation: str = 'auto'

  @nn.compact
  def __call__(self, x):
    impl = self.conv_implementation
    y = conv.Conv(self.channels, (3, 3), implementation=impl)(nn.relu(x))
    y = conv.Conv(self.channels, (3, 3), implementation=impl)(nn.relu(y))
    return x + y


class DeepTorso(nn.Module):
  """Three sections (16, 32, 32 channels) of conv 3×3, max-pool 3×3 stride 2 and two
  residual blocks; then relu and dense 256."""
  channels: tuple[int, ...] = (16, 32, 32)
  conv_implementation: str = 'auto'

  @nn.compact
  def __call__(self, x):
    impl = self.conv_implementation
    for i, channels in enumerate(self.channels):
      scale = FRAME_SCALE if i == 0 else None
      x = conv.Conv(channels, (3, 3), implementation=impl, input_scale=scale)(x)
      x = max_pool.max_pool(x, (3, 3), strides=(2, 2), padding='SAME', implementation=impl)
      x = ResidualBlock(channels, impl)(x)
      x = ResidualBlock(channels, impl)(x)
    x = nn.relu(x).reshape((x.shape[0], -1))
    return nn.relu(nn.Dense(256)(x))
