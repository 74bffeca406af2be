"""The conv-net baselines: plain layers, and pre-activation residual blocks with skips."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from planning import conv_baselines


def _params(recurrent, skip, depth=3):
  net = conv_baselines.ConvNet(outputs=2, depth=depth, recurrent=recurrent, skip=skip)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 5, 3))
  return net, net.init(jax.random.PRNGKey(1), x)['params'], x


@pytest.mark.parametrize('recurrent', [False, True])
def test_parameters_per_variant(recurrent):
  _, plain, _ = _params(recurrent, skip=False)
  _, skip, _ = _params(recurrent, skip=True)
  layers = {'layer', 'layer_norm'} if recurrent else {'layer_0', 'layer_1', 'layer_2'}
  assert set(plain) == {'representation_0', 'representation_1', 'output'} | layers
  skip_layers = ({'layer', 'layer_norm'} if recurrent else
                 {'layer_0', 'layer_1', 'layer_2', 'layer_0_norm', 'layer_1_norm',
                  'layer_2_norm'})
  assert set(skip) == {'representation_0', 'representation_1', 'output',
                       'final_norm'} | skip_layers


def test_zeroed_residual_blocks_are_identities():
  # A block adds its branch to the stream (conv of zero kernel and bias: nothing), and
  # the stream is normalised once after the last block.
  net, params, x = _params(recurrent=False, skip=True, depth=3)
  zero = lambda tree: jax.tree.map(jnp.zeros_like, tree)
  params = dict(params, **{f'layer_{k}': zero(params[f'layer_{k}']) for k in range(3)})
  shallow, shallow_params, _ = _params(recurrent=False, skip=True, depth=1)
  shallow_params = {k: params[k] for k in shallow_params}
  np.testing.assert_allclose(net.apply({'params': params}, x),
                             shallow.apply({'params': shallow_params}, x), atol=1e-6)
