"""The predictron (Silver et al., ICML 2017) as a ``core.model.Model``.

  state representation  s^0 = f(x): two 3×3 convolutions of 32 channels
  core                  m(s^k) = (s^{k+1}, r^{k+1}, γ^{k+1}, λ^k), k = 0 .. K−1: a 3×3
                        convolution to a hidden layer, from which 2-layer MLPs of 32 units
                        give the reward, the discount (sigmoid) and λ (sigmoid), one per
                        prediction, and a second 3×3 convolution gives the next state;
                        one set of weights for every step (``shared_core``) or K sets
  value net             v^k = v(s^k), a 2-layer MLP of 32 units, k = 0 .. K
  preturns              ``planning/preturns.py``: every g^k and g^λ

Variants (the paper's ablations): ``learn_reward_discount=False`` fixes r = 0 and γ = 1
(so g^k = v^k), ``learn_lambda=False`` fixes λ = 1 (so g^λ = g^K); ``usage_weighting``
weights preturn k's loss by w^k (held fixed) instead of uniformly.

Normalisation: the paper puts batch normalisation after each convolution. Here it is a
layer norm over the channels (per position), which needs no batch statistics in the
state and behaves the same in training and evaluation.

Loss (per example, summed over the predictions, averaged over the batch):
  ½ ‖g^λ − y‖² + Σ_k c_k ½ ‖g^k − y‖²,   c_k = 1/(K+1) or w^k (usage weighting).
Consistency loss (no labels): Σ_k c_k ½ ‖g^k − sg(g^λ)‖², the λ-preturn held fixed.
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from core import learner as learner_lib
from core.nn import conv as conv_lib
from core import model as model_lib
from planning import preturns as preturns_lib

CHANNELS = 32
HIDDEN = 32


class Rollout(NamedTuple):
  rewards: jax.Array    # [K, B, n]
  discounts: jax.Array  # [K, B, n]
  lambdas: jax.Array    # [K, B, n]
  values: jax.Array     # [K + 1, B, n]


def conv(name: str, implementation: str | None = None) -> conv_lib.Conv:
  """A 3×3, ``CHANNELS`` convolution (parameters as ``flax.linen.Conv``'s).

  ``implementation`` None: the core's matmul convolution on the CPU backend at any batch,
  XLA's elsewhere. XLA:CPU's convolution gradients are slow; on these small inputs 'auto''s
  batch threshold (tuned on 84×84 frames) would keep XLA's op, and a maze update
  (8×8, batch 32, K = 16) ran at 20 examples/s with it against ~300 with the matmul path.
  """
  if implementation is None:
    implementation = 'matmul' if jax.default_backend() == 'cpu' else 'standard'
  return conv_lib.Conv(CHANNELS, (3, 3), padding='SAME', name=name,
                       implementation=implementation)


class ConvNorm(nn.Module):
  """A 3×3 convolution of ``CHANNELS``, a layer norm over channels, a ReLU."""
  implementation: str | None = None  # see ``conv``

  @nn.compact
  def __call__(self, x):
    x = conv('conv', self.implementation)(x)
    return nn.relu(nn.LayerNorm(name='norm')(x))


def conv_layer(x, name):
  """``ConvNorm`` named ``name``, inside a compact module."""
  return ConvNorm(name=name)(x)


class Head(nn.Module):
  """A 2-layer MLP from a [B, H, W, C] state to ``outputs`` per example."""
  outputs: int

  @nn.compact
  def __call__(self, state):
    x = state.reshape((state.shape[0], -1))
    return nn.Dense(self.outputs)(nn.relu(nn.Dense(HIDDEN)(x)))


class _Core(nn.Module):
  outputs: int
  learn_reward_discount: bool
  learn_lambda: bool

  @nn.compact
  def __call__(self, state):
    hidden = conv_layer(state, 'hidden')
    batch_shape = (state.shape[0], self.outputs)
    if self.learn_reward_discount:
      reward = Head(self.outputs, name='reward')(hidden)
      discount = jax.nn.sigmoid(Head(self.outputs, name='discount')(hidden))
    else:
      reward, discount = jnp.zeros(batch_shape), jnp.ones(batch_shape)
    if self.learn_lambda:
      lambda_ = jax.nn.sigmoid(Head(self.outputs, name='lambda')(hidden))
    else:
      lambda_ = jnp.ones(batch_shape)
    return conv_layer(hidden, 'next_state'), reward, discount, lambda_


class PredictronNet(nn.Module):
  """Rolls the core ``depth`` steps from the input's state; returns a ``Rollout``.

  ``represent``, ``value`` and ``core`` are its parts, for rolling it step by step
  (``adaptive_lambda_preturn``).
  """
  outputs: int
  depth: int
  shared_core: bool = True
  learn_reward_discount: bool = True
  learn_lambda: bool = True

  def setup(self):
    self.representation = [ConvNorm(), ConvNorm()]
    self.value_head = Head(self.outputs)
    self.cores = [_Core(self.outputs, self.learn_reward_discount, self.learn_lambda)
                  for _ in range(1 if self.shared_core else self.depth)]

  def represent(self, inputs):
    for layer in self.representation:
      inputs = layer(inputs)
    return inputs

  def value(self, state):
    return self.value_head(state)

  def core(self, state, k: int = 0):
    """Step ``k``'s core: ``(s^{k+1}, r^{k+1}, γ^{k+1}, λ^k)`` of ``s^k``."""
    return self.cores[0 if self.shared_core else k](state)

  def __call__(self, inputs):
    state = self.represent(inputs)
    rewards, discounts, lambdas, values = [], [], [], [self.value(state)]
    for k in range(self.depth):
      state, reward, discount, lambda_ = self.core(state, k)
      rewards.append(reward)
      discounts.append(discount)
      lambdas.append(lambda_)
      values.append(self.value(state))
    return Rollout(*map(jnp.stack, (rewards, discounts, lambdas, values)))


class _Walk(NamedTuple):
  """The state of ``adaptive_lambda_preturn``'s loop at step k, per example."""
  k: jax.Array         # () int32
  state: jax.Array     # s^k
  returns: jax.Array   # R_k = Σ_{j<=k} D_{j−1} r^j
  discount: jax.Array  # D_k = Π_{j<=k} γ^j, so g^k = R_k + D_k v^k
  value: jax.Array     # v^k
  reach: jax.Array     # Π_{j<k} λ^j
  total: jax.Array     # Σ of the weighted preturns so far
  going: jax.Array     # [B] bool: not stopped yet
  depth: jax.Array     # [B] int32 steps taken


class AdaptivePreturn(NamedTuple):
  lambda_: jax.Array  # [B, n] g^λ over the steps taken
  depth: jax.Array    # [B] int32 core steps each example took


def adaptive_lambda_preturn(net: PredictronNet, params, inputs,
                            threshold: float) -> AdaptivePreturn:
  """g^λ with as few core steps as each example needs: an example stops at the first k
  where the weight left for the later preturns, Π_{j<k} λ^j (its largest over the
  predictions), falls below ``threshold``, and its k-step preturn takes that weight
  (at most ``net.depth`` steps; ``threshold`` 0 gives the full g^λ). The trip count is
  data-dependent: a ``lax.while_loop`` runs until every example has stopped. A shared
  core only (the step's weights must not depend on k).
  """
  if not net.shared_core:
    raise ValueError('adaptive_lambda_preturn needs a shared core (shared_core=True)')
  apply = lambda method, *args: net.apply(params, *args, method=method)
  state = apply(PredictronNet.represent, inputs)
  value = apply(PredictronNet.value, state)
  ones = jnp.ones_like(value)
  batch = value.shape[0]

  def stopped(reach, k):
    return (jnp.max(reach, axis=-1) < threshold) | (k >= net.depth)

  def cond(walk: _Walk):
    return jnp.any(walk.going)

  def body(w: _Walk) -> _Walk:
    next_state, reward, next_discount, lambda_ = apply(PredictronNet.core, w.state)
    g = w.returns + w.discount * w.value
    total = w.total + jnp.where(w.going[:, None], (1.0 - lambda_) * w.reach * g, 0.0)
    returns, discount = w.returns + w.discount * reward, w.discount * next_discount
    value = apply(PredictronNet.value, next_state)
    reach, k = w.reach * lambda_, w.k + 1
    stop_now = w.going & stopped(reach, k)
    total = total + jnp.where(stop_now[:, None], reach * (returns + discount * value), 0.0)
    return _Walk(k, next_state, returns, discount, value, reach, total,
                 w.going & ~stop_now, jnp.where(w.going, k, w.depth))

  going = ~stopped(ones, 0)
  total = jnp.where(going[:, None], 0.0, value)  # threshold above 1: g^0 = v^0
  final = jax.lax.while_loop(cond, body, _Walk(
      jnp.zeros((), jnp.int32), state, jnp.zeros_like(value), ones, value, ones, total,
      going, jnp.zeros((batch,), jnp.int32)))
  return AdaptivePreturn(final.total, final.depth)


class AdaptiveReport(NamedTuple):
  """``adaptive_depth_report``: per threshold, the mean core steps and the test RMSE."""
  thresholds: tuple
  mean_depth: tuple   # mean over the examples of the core steps taken
  rmse: tuple         # RMSE of the adaptive g^λ against the targets
  full_rmse: float    # RMSE of the full K-step g^λ


def adaptive_depth_report(net: PredictronNet, params, batches,
                          thresholds) -> AdaptiveReport:
  """How deep the adaptive g^λ (``adaptive_lambda_preturn``) goes and what it costs in
  error, over ``batches`` (each with ``inputs`` and ``targets``), against the full g^λ."""
  walk = jax.jit(adaptive_lambda_preturn, static_argnums=(0,))
  full = jax.jit(lambda p, x: preturns_lib.preturns(*net.apply(p, x)).lambda_)

  def rmse(predictions):
    targets = jnp.concatenate([b.targets for b in batches])
    return float(jnp.sqrt(jnp.mean(jnp.square(jnp.concatenate(predictions) - targets))))

  depths, errors = [], []
  for threshold in thresholds:
    outs = [walk(net, params, b.inputs, float(threshold)) for b in batches]
    depths.append(float(jnp.mean(jnp.concatenate([o.depth for o in outs]))))
    errors.append(rmse([o.lambda_ for o in outs]))
  return AdaptiveReport(tuple(float(t) for t in thresholds), tuple(depths), tuple(errors),
                        rmse([full(params, b.inputs) for b in batches]))


def make_net(*, outputs: int, depth: int = 16, shared_core: bool = True,
             learn_reward_discount: bool = True, learn_lambda: bool = True) -> PredictronNet:
  """The network of ``make_model`` with the same arguments."""
  return PredictronNet(outputs, depth, shared_core, learn_reward_discount, learn_lambda)


def _per_example(squared):
  """½ Σ over predictions, mean over the batch, of ``squared [..., B, n]``."""
  return 0.5 * jnp.mean(jnp.sum(squared, axis=-1), axis=-1)


def make_model(*, outputs: int, depth: int = 16, shared_core: bool = True,
               learn_reward_discount: bool = True, learn_lambda: bool = True,
               usage_weighting: bool = True, consistency_updates: int = 0) -> model_lib.Model:
  """The predictron over batches with ``inputs [B, H, W, C]`` and ``targets [B, outputs]``.

  Args:
    outputs: predictions per example.
    depth: K, the planning steps.
    shared_core: one core for every step (else K).
    learn_reward_discount: learn r and γ (else r = 0, γ = 1).
    learn_lambda: learn λ (else λ = 1).
    usage_weighting: weight preturn k's loss by w^k (held fixed), else uniformly.
    consistency_updates: consistency updates after each labelled update, on batches of
      the data source's unlabelled examples (``core.model.with_unlabelled``).

  Raises:
    ValueError: for a size below 1 (naming it).
  """
  for name, value, low in (('outputs', outputs, 1), ('depth', depth, 1),
                           ('consistency_updates', consistency_updates, 0)):
    if not isinstance(value, int) or value < low:
      raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')
  net = make_net(outputs=outputs, depth=depth, shared_core=shared_core,
                 learn_reward_discount=learn_reward_discount, learn_lambda=learn_lambda)

  def evaluate(params, inputs) -> tuple[Rollout, preturns_lib.Preturns]:
    rollout = net.apply(params, inputs)
    return rollout, preturns_lib.preturns(*rollout)

  def preturn_weights(p: preturns_lib.Preturns):
    if usage_weighting:
      return jax.lax.stop_gradient(p.weights)
    return jnp.full_like(p.weights, 1.0 / (depth + 1))

  def init(key, batch) -> dict[str, Any]:
    return net.init(key, getattr(batch, 'labelled', batch).inputs)

  def loss(params, batch, key):
    del key  # deterministic
    batch = getattr(batch, 'labelled', batch)  # a SemiSupervisedBatch's labelled part
    rollout, p = evaluate(params, batch.inputs)
    k_step_errors = _per_example(jnp.square(p.k_step - batch.targets))   # [K + 1]
    lambda_error = _per_example(jnp.square(p.lambda_ - batch.targets))
    weights = jnp.mean(preturn_weights(p), axis=(1, 2))                  # [K + 1]
    total = lambda_error + jnp.sum(weights * k_step_errors)
    rmse = lambda x: jnp.sqrt(jnp.mean(jnp.square(x - batch.targets)))
    metrics = {'loss': total, 'rmse_lambda': rmse(p.lambda_)}
    metrics.update({f'rmse_g{k}': rmse(p.k_step[k]) for k in range(depth + 1)})
    metrics.update({f'lambda_{k}': jnp.mean(rollout.lambdas[k]) for k in range(depth)})
    return total, metrics

  def consistency_loss(params, inputs):
    _, p = evaluate(params, inputs)
    target = jax.lax.stop_gradient(p.lambda_)
    squared = jnp.mean(jnp.sum(jnp.square(p.k_step - target), -1), -1)   # [K + 1]
    weights = jnp.mean(preturn_weights(p), axis=(1, 2))
    return 0.5 * jnp.sum(weights * squared)

  make_learner = None
  if consistency_updates:
    make_learner = lambda optimizer: consistency_learner(loss, consistency_loss, optimizer)
  return model_lib.Model(init=init, loss=loss, make_learner=make_learner)


def consistency_learner(loss, consistency_loss, optimizer):
  """A learner whose step is one update on the labelled batch, then one consistency update
  on each of its unlabelled batches (``core.model.SemiSupervisedBatch``: inputs
  ``[B, n, ...]``; their targets are not used). ``update`` counts labelled updates."""
  supervised = learner_lib.make_learner(loss, optimizer)

  def step(state, batch, key):
    state, metrics = supervised.step(state, batch.labelled, key)

    def consistency_step(state, inputs):
      value, grads = jax.value_and_grad(consistency_loss)(state.params, inputs)
      applied = learner_lib.optimizer_apply(optimizer)(state, grads)
      return applied._replace(update=state.update), value

    state, values = jax.lax.scan(consistency_step, state,
                                 jnp.moveaxis(batch.unlabelled.inputs, 1, 0))
    return state, dict(metrics, consistency_loss=jnp.mean(values))

  return learner_lib.Learner(init=supervised.init, step=step)
