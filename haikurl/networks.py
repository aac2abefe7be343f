"""Haiku networks: torsos and heads returning named outputs.

Every function here builds Haiku modules and must run inside
`hk.transform`; agents transform them once in `make`. Heads return
NamedTuples so losses pick fields by name. Haiku stays inside this module
and the agents' network functions.
"""
import dataclasses
import functools
from typing import Callable, NamedTuple, Sequence

import chex
import distrax
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from haikurl import settings as s

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
  return ACTIVATIONS[name]


def orthogonal(scale: float) -> hk.initializers.Initializer:
  return hk.initializers.Orthogonal(scale)


# Weight initialisations of a torso's layers, by name.
#   orthogonal  orthogonal with gain sqrt 2 (PPO implementations, CleanRL).
#   lecun       truncated normal of variance 1/fan_in, corrected for the
#               truncation: flax's `lecun_normal`, the default of flax.linen
#               Dense and Conv, hence of rejax and PureJaxRL's DQN.
TORSO_INITS = ("orthogonal", "lecun")


def torso_init(name: str) -> hk.initializers.Initializer:
  if name == "orthogonal":
    return orthogonal(np.sqrt(2.0))
  if name == "lecun":
    return hk.initializers.VarianceScaling(1.0, "fan_in", "truncated_normal")
  raise ValueError(f"unknown torso init {name!r}; known: {TORSO_INITS}")


class CategoricalPolicy(NamedTuple):
  logits: jax.Array  # [B, A]


class GaussianPolicy(NamedTuple):
  mean: jax.Array     # [B, D]
  log_std: jax.Array  # [B, D]


class Value(NamedTuple):
  value: jax.Array  # [B]


class QValues(NamedTuple):
  q_values: jax.Array  # [B, A]


def mlp(hidden_sizes: Sequence[int], act: str = "tanh",
        activate_final: bool = True, name: str = "mlp",
        init: str = "orthogonal", layer_norm: bool = False) -> Callable:
  """An MLP; by default orthogonal(sqrt 2) weights, as in PPO implementations
  (`init`: one of TORSO_INITS). With `layer_norm`, every hidden layer is
  Linear -> LayerNorm -> nonlinearity (PQN, Gallici et al. 2024)."""
  if not layer_norm:
    return MLP(list(hidden_sizes), w_init=torso_init(init),
               activation=activation(act), activate_final=activate_final,
               name=name)

  def forward(x):
    with hk.experimental.name_scope(name):
      for i, size in enumerate(hidden_sizes):
        x = Linear(size, w_init=torso_init(init), name=f"linear_{i}")(x)
        if i < len(hidden_sizes) - 1 or activate_final:
          x = LayerNorm(name=f"layer_norm_{i}")(x)
          x = activation(act)(x)
    return x
  return forward


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def layer_norm(x: jax.Array, scale: jax.Array, offset: jax.Array,
               eps: float = 1e-5) -> jax.Array:
  """(x - mean) / sqrt(var + eps) * scale + offset over the last axis, as
  `hk.LayerNorm(-1, create_scale=True, create_offset=True)` computes it,
  with its backward pass written out: dx = (g - mean(g) - x_hat *
  mean(g * x_hat)) / sigma for g = dy * scale, which is fewer operations
  than differentiating the mean and the variance (on a CPU, a third of
  PQN's gradient step was LayerNorm's backward)."""
  return _layer_norm_forward(x, scale, offset, eps)[0]


def _layer_norm_forward(x, scale, offset, eps):
  mean = jnp.mean(x, axis=-1, keepdims=True)
  centred = x - mean
  rstd = jax.lax.rsqrt(jnp.mean(jnp.square(centred), axis=-1,
                                keepdims=True) + eps)
  x_hat = centred * rstd
  # scale and offset [C] against x [..., C], broadcast explicitly (the
  # package runs under jax_numpy_rank_promotion="raise" in its tests).
  lead = (1,) * (x.ndim - 1)
  scale, offset = scale.reshape(lead + scale.shape), offset.reshape(
      lead + offset.shape)
  return x_hat * scale + offset, (x_hat, rstd, scale)


def _layer_norm_backward(eps, residuals, dy):
  del eps
  x_hat, rstd, scale = residuals
  batch_axes = tuple(range(dy.ndim - 1))
  size = dy.shape[-1]
  g = dy * scale
  # Each sum of a product is written as a contraction, not as
  # jnp.sum(a * b): XLA's CPU backend hands a multiply fused into a sum to
  # YNNPACK, which took 26 us (over the features) and 60 us (over the
  # batch) on PQN's 128 x 64 activations, most of its gradient step; as
  # contractions they are dots. One seed of PQN (configs/pqn.py:rejax) ran
  # 95k -> 149-174k env steps/s (A/B runs of our side alone).
  g_x_hat = jnp.einsum("...c,...c->...", g, x_hat)[..., None] / size
  dx = rstd * (g - jnp.mean(g, axis=-1, keepdims=True) - x_hat * g_x_hat)
  rows = lambda a: a.reshape(-1, size)
  return (dx, jnp.einsum("bc,bc->c", rows(dy), rows(x_hat)),
          jnp.sum(dy, axis=batch_axes))


layer_norm.defvjp(_layer_norm_forward, _layer_norm_backward)


class LayerNorm(hk.Module):
  """hk.LayerNorm(-1, create_scale=True, create_offset=True) (the same
  parameters, "scale" ones and "offset" zeros) on `layer_norm`'s fused
  backward pass."""

  def __call__(self, x: jax.Array) -> jax.Array:
    size = x.shape[-1]
    scale = hk.get_parameter("scale", (size,), x.dtype, init=jnp.ones)
    offset = hk.get_parameter("offset", (size,), x.dtype, init=jnp.zeros)
    return layer_norm(x, scale, offset)


def _dense_forward(x, w):
  if w.ndim == 3:
    return jnp.einsum("nbi,nio->nbo", x, w), (x, w)
  return jnp.dot(x, w), (x, w)


@jax.custom_vjp
def dense(x: jax.Array, w: jax.Array) -> jax.Array:
  """`x @ w` for x [..., in] and w [in, out], as `hk.Linear` computes it (or
  N stacked layers: x [N, B, in], w [N, in, out], as `twin_q` has them),
  with the weight gradient's operands in the order XLA:CPU runs fast.

  JAX's transpose rule computes every weight gradient as
  `dot_general(dy, x)` contracting the rows, then transposes it. Under
  `jax.vmap` over one member (one seed, as the loop and the benchmarks run
  it) that product has a batch dimension of size 1, and XLA:CPU then runs
  it 7-20x slower when `in < out` (a first layer: [256, 4] -> 64 took 18 us
  against 2.5 us, [256, 3] -> 256 98 us against 4.8; `benchmarks/dots.py`)
  than `dot_general(x, dy)`, while for `in >= out` `dy` first is the fast
  order (a [256, 64] -> 2 head: 3 us against 19). So the weight gradient is
  `x` first when `in < out` and JAX's own product otherwise; without the
  size-1 batch (no vmap, or 2 or more members) both orders run alike. PPO
  at one seed: the learn step 13% faster. The forward pass and `dx` are
  JAX's own products. A `custom_vjp`: reverse mode only (`jax.jvp` of a
  network raises), which is all a loss needs.
  """
  return _dense_forward(x, w)[0]


def _dense_forward_rule(x, w):
  # With symbolic zeros, x and w come with `perturbed`: whether their
  # gradient is wanted (an observation's is not, nor, in an actor's loss,
  # the critic's weights'). The answer rides in the residuals' structure.
  out, residuals = _dense_forward(x.value, w.value)
  return out, (residuals, tuple(() if a.perturbed else None for a in (x, w)))


def _dense_backward(residuals, dy):
  (x, w), (x_wanted, w_wanted) = residuals
  if isinstance(dy, jax.custom_derivatives.SymbolicZero):
    return None, None
  dx = dw = None
  if w.ndim == 3:   # stacked: the layer axis is a batch axis of each product
    if x_wanted is not None:
      dx = jax.lax.dot_general(dy, w, (((2,), (2,)), ((0,), (0,))))
    rows = (((1,), (1,)), ((0,), (0,)))
  else:
    if x_wanted is not None:
      dx = jax.lax.dot_general(dy, w, (((dy.ndim - 1,), (1,)), ((), ())))
    x, dy = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    rows = (((0,), (0,)), ((), ()))
  if w_wanted is not None:
    if w.shape[-2] < w.shape[-1]:
      dw = jax.lax.dot_general(x, dy, rows)
    else:
      dw = jnp.swapaxes(jax.lax.dot_general(dy, x, rows), -1, -2)
  return dx, dw


dense.defvjp(_dense_forward_rule, _dense_backward, symbolic_zeros=True)


class Linear(hk.Linear):
  """`hk.Linear` (the same parameters, names and initialisers) on `dense`."""

  def __call__(self, inputs: jax.Array, *, precision=None) -> jax.Array:
    if precision is not None or not inputs.shape:
      return super().__call__(inputs, precision=precision)
    inputs = jnp.asarray(inputs)
    input_size = self.input_size = inputs.shape[-1]
    w_init = self.w_init
    if w_init is None:
      w_init = hk.initializers.TruncatedNormal(stddev=1. / np.sqrt(input_size))
    w = hk.get_parameter("w", [input_size, self.output_size], inputs.dtype,
                         init=w_init)
    out = dense(inputs, w)
    if self.with_bias:
      b = hk.get_parameter("b", [self.output_size], inputs.dtype,
                           init=self.b_init)
      out = out + b.reshape((1,) * (out.ndim - 1) + b.shape)
    return out


class MLP(hk.Module):
  """`hk.nets.MLP` (the same parameter names: `<name>/~/linear_<i>`) on
  `Linear`; no dropout."""

  def __init__(self, output_sizes: Sequence[int], w_init=None, b_init=None,
               activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
               activate_final: bool = False, name=None):
    super().__init__(name=name)
    self.activation = activation
    self.activate_final = activate_final
    self.layers = tuple(
        Linear(size, w_init=w_init, b_init=b_init, name=f"linear_{i}")
        for i, size in enumerate(output_sizes))

  def __call__(self, x: jax.Array) -> jax.Array:
    for i, layer in enumerate(self.layers):
      x = layer(x)
      if i < len(self.layers) - 1 or self.activate_final:
        x = self.activation(x)
    return x


class _PatchConv2D(hk.Module):
  """hk.Conv2D(channels, kernel_shape=k, stride, padding) on NHWC input,
  computed as one matmul over the k x k patches (im2col).

  Same parameters (names, shapes, initialisation) and the same function as
  the convolution, but its gradients are matmuls too. XLA:CPU runs the
  convolution that computes the kernel's gradient about 25x slower inside a
  while loop (`lax.scan`, where every learn step runs) than outside one
  (jax 0.10.2); the matmul form has no such cliff. `padding` is "VALID" or
  "SAME" (zeros, TensorFlow's split: the extra row or column after).
  """

  def __init__(self, output_channels: int, kernel_size: int,
               w_init: hk.initializers.Initializer, stride: int = 1,
               padding: str = "VALID", name: str = "conv2_d"):
    super().__init__(name=name)
    self.output_channels = output_channels
    self.kernel_size = kernel_size
    self.w_init = w_init
    self.stride = stride
    self.padding = padding

  def __call__(self, x: jax.Array) -> jax.Array:
    k, channels, stride = self.kernel_size, x.shape[-1], self.stride
    w = hk.get_parameter("w", (k, k, channels, self.output_channels),
                         x.dtype, init=self.w_init)
    b = hk.get_parameter("b", (self.output_channels,), x.dtype,
                         init=jnp.zeros)
    if self.padding == "SAME":
      x, height, width = _same_pad(x, k, stride, 0.0)
    else:
      height = (x.shape[-3] - k) // stride + 1
      width = (x.shape[-2] - k) // stride + 1
    # [..., H', W', k * k * C] in (row, column, channel) order, as w flattens.
    patches = jnp.concatenate(
        [_window(x, i, j, height, width, stride)
         for i in range(k) for j in range(k)], axis=-1)
    return patches @ w.reshape(k * k * channels, self.output_channels) + b


def _same_pad(x: jax.Array, k: int, stride: int, value: float):
  """x [B, H, W, C] padded with `value` for a k x k window at `stride` with
  SAME padding; returns (padded, output height, output width)."""
  pads, out = [], []
  for size in x.shape[-3:-1]:
    out_size = -(-size // stride)
    total = max((out_size - 1) * stride + k - size, 0)
    pads.append((total // 2, total - total // 2))
    out.append(out_size)
  x = jnp.pad(x, ((0, 0),) * (x.ndim - 3) + tuple(pads) + ((0, 0),),
              constant_values=value)
  return x, out[0], out[1]


def _window(x: jax.Array, i: int, j: int, height: int, width: int,
            stride: int) -> jax.Array:
  """x[..., i + stride * r, j + stride * c, :] for r < height, c < width."""
  return x[..., i:i + stride * (height - 1) + 1:stride,
           j:j + stride * (width - 1) + 1:stride, :]


def max_pool(x: jax.Array, window: int = 3, stride: int = 2) -> jax.Array:
  """hk.max_pool(x, window, stride, "SAME") on NHWC, as a max over the
  window's strided slices: its gradient is elementwise, where reduce_window's
  (select_and_scatter) would be another op XLA:CPU runs slowly in a scan."""
  x, height, width = _same_pad(x, window, stride, -jnp.inf)
  return functools.reduce(jnp.maximum, [
      _window(x, i, j, height, width, stride)
      for i in range(window) for j in range(window)])


def minatar_cnn(x: jax.Array, act: str = "relu",
                init: str = "orthogonal") -> jax.Array:
  """A 3x3 conv with 16 channels, flattened: the MinAtar paper's torso.

  The conv is `_PatchConv2D`: hk.Conv2D's function and parameters, without
  its slow gradient inside `lax.scan` on CPU.
  """
  x = _PatchConv2D(16, 3, w_init=torso_init(init))(x)
  return hk.Flatten()(activation(act)(x))


def _residual_block(x: jax.Array, act, init: str) -> jax.Array:
  """x + conv(act(conv(act(x)))), 3x3 SAME convs keeping the channels
  (Espeholt et al. 2018, figure 3; He et al. 2016's pre-activation form)."""
  channels = x.shape[-1]
  y = _PatchConv2D(channels, 3, torso_init(init), padding="SAME")(act(x))
  y = _PatchConv2D(channels, 3, torso_init(init), padding="SAME")(act(y))
  return x + y


def impala_cnn(x: jax.Array, channels: Sequence[int] = (16, 32, 32),
               blocks: int = 2, act: str = "relu",
               init: str = "orthogonal") -> jax.Array:
  """The IMPALA CNN (Espeholt et al. 2018, figure 3, "deep"), flattened.

  One section per entry of `channels`: a 3x3 conv, a 3x3 max-pool of stride
  2, then `blocks` residual blocks; finally the nonlinearity and flatten.
  The paper's dense layer is the torso's MLP after it (`hidden_sizes`, 256
  in the paper). On 84 x 84 frames the paper's (16, 32, 32) gives 11 x 11 x
  32 features; on MinAtar's 10 x 10 it gives 2 x 2 x 32 (the pools halve
  10 -> 5 -> 3 -> 2).

  Args:
    x: [B, H, W, C] images.
    channels: output channels of each section.
    blocks: residual blocks per section.
    act, init: the nonlinearity and weight initialisation (TORSO_INITS).

  Returns:
    [B, F] features.
  """
  chex.assert_rank(x, 4)
  fn = activation(act)
  with hk.experimental.name_scope("impala"):
    for c in channels:
      x = _PatchConv2D(c, 3, torso_init(init), padding="SAME")(x)
      x = max_pool(x, 3, 2)
      for _ in range(blocks):
        x = _residual_block(x, fn, init)
    return hk.Flatten()(fn(x))


def resnet(x: jax.Array, channels: Sequence[int] = (16, 32, 32),
           blocks: int = 2, act: str = "relu",
           init: str = "orthogonal") -> jax.Array:
  """A small ResNet (He et al. 2016's basic blocks, no normalisation), flattened.

  A 3x3 stem conv to `channels[0]`, then one stage per entry of `channels`:
  the first stage at stride 1, every later one opening with a stride-2 3x3
  conv to its channels (the shortcut a stride-2 1x1 projection), followed
  by `blocks` - 1 residual blocks; finally the nonlinearity and flatten.
  Unlike `impala_cnn` it downsamples by strided convolutions, not pooling:
  on MinAtar's 10 x 10, (16, 32, 32) gives 3 x 3 x 32 features.

  Args:
    x: [B, H, W, C] images.
    channels: channels of each stage.
    blocks: residual blocks per stage (the first of a downsampling stage is
      the strided one).
    act, init: the nonlinearity and weight initialisation (TORSO_INITS).

  Returns:
    [B, F] features.
  """
  chex.assert_rank(x, 4)
  fn = activation(act)
  w_init = torso_init(init)
  with hk.experimental.name_scope("resnet"):
    x = _PatchConv2D(channels[0], 3, w_init, padding="SAME", name="stem")(x)
    for stage, c in enumerate(channels):
      remaining = blocks
      if stage > 0:
        shortcut = _PatchConv2D(c, 1, w_init, stride=2,
                                name="projection")(x)
        y = _PatchConv2D(c, 3, w_init, stride=2, padding="SAME")(fn(x))
        y = _PatchConv2D(c, 3, w_init, padding="SAME")(fn(y))
        x = shortcut + y
        remaining -= 1
      for _ in range(remaining):
        x = _residual_block(x, fn, init)
    return hk.Flatten()(fn(x))


# Torsos by name (TorsoSettings.torso):
#   auto         today's choice: images [B, H, W, C] -> minatar_cnn, anything
#                else flattened; then the MLP.
#   mlp          flatten, then the MLP (images too).
#   minatar_cnn  the MinAtar paper's one conv, then the MLP.
#   impala       impala_cnn, then the MLP (the paper's dense layer).
#   resnet       resnet, then the MLP.
TORSOS = ("auto", "mlp", "minatar_cnn", "impala", "resnet")
IMAGE_TORSOS = ("minatar_cnn", "impala", "resnet")


class Encoder(NamedTuple):
  """What a torso does before its MLP (from TorsoSettings.encoder)."""
  kind: str = "auto"                      # one of TORSOS
  channels: Sequence[int] = (16, 32, 32)  # impala / resnet sections
  blocks: int = 2                         # residual blocks per section


def encode(obs: jax.Array, encoder: Encoder = Encoder(), act: str = "relu",
           init: str = "orthogonal") -> jax.Array:
  """obs [B, ...] -> features [B, F]: the torso without its MLP.

  A recurrent core (or any other piece) can sit between these features and
  the MLP; `torso` is `mlp(encode(obs))`.
  """
  kind = encoder.kind
  if kind == "auto":
    kind = "minatar_cnn" if obs.ndim == 4 else "mlp"
  if kind == "mlp":
    return obs.reshape(obs.shape[0], -1)
  if obs.ndim != 4:
    raise ValueError(f"torso {kind!r} needs images [B, H, W, C], got "
                     f"observations of shape {obs.shape}.")
  if kind == "minatar_cnn":
    return minatar_cnn(obs, act, init)
  if kind == "impala":
    return impala_cnn(obs, encoder.channels, encoder.blocks, act, init)
  if kind == "resnet":
    return resnet(obs, encoder.channels, encoder.blocks, act, init)
  raise ValueError(f"unknown torso {kind!r}; known: {TORSOS}")


def torso(obs: jax.Array, hidden_sizes: Sequence[int], act: str,
          name: str, init: str = "orthogonal",
          layer_norm: bool = False, *,
          encoder: Encoder = Encoder()) -> jax.Array:
  """`encode` (by default: images [B, H, W, C] to the MinAtar CNN, anything
  else flattened), then an MLP of `hidden_sizes`. `init` names the layers'
  weight initialisation (TORSO_INITS); `layer_norm` puts a LayerNorm before
  each of the MLP's nonlinearities."""
  with hk.experimental.name_scope(name):
    x = encode(obs, encoder, act, init)
    return mlp(hidden_sizes, act, init=init, layer_norm=layer_norm)(x)


def critic_features(obs: jax.Array, encoder: Encoder, act: str,
                    init: str = "orthogonal") -> jax.Array:
  """What the twin critics (`twin_q`) of SAC / TD3 see: the observations as
  they are for 'auto' and 'mlp' (today's flat critics), else the features of
  one image encoder shared by the critics, as DrQ's critic (Kostrikov et
  al. 2021) shares its encoder between its two Q heads."""
  if encoder.kind in ("auto", "mlp"):
    return obs
  with hk.experimental.name_scope("critic_encoder"):
    return encode(obs, encoder, act, init)


@dataclasses.dataclass(frozen=True)
class TorsoSettings(s.Settings):
  """The torso settings of an agent (a mixin: an agent's Settings derives
  from it and passes `settings.encoder` to `torso`)."""
  torso: str = s.setting(
      "auto", "what comes before the MLP: 'auto' (the MinAtar CNN for "
      "images, else nothing), 'mlp', 'minatar_cnn', 'impala', 'resnet'",
      s.one_of(*TORSOS))
  torso_channels: tuple = s.setting(
      (16, 32, 32), "channels of the impala / resnet torso's sections",
      s.positive_ints)
  torso_blocks: int = s.setting(
      2, "residual blocks per section of the impala / resnet torso",
      s.non_negative_int)

  def check(self):
    super().check()
    if self.torso == "resnet" and self.torso_blocks < 1:
      raise ValueError("config.agent.torso_blocks must be at least 1 for the "
                       "resnet torso (its downsampling block).")

  def check_spec(self, spec) -> None:
    super().check_spec(spec)
    if self.torso in IMAGE_TORSOS and len(spec.obs_shape) != 3:
      raise ValueError(
          f"config.agent.torso={self.torso!r} needs image observations "
          f"[H, W, C], but {spec.name} has observations of shape "
          f"{tuple(spec.obs_shape)}; use torso='auto' or 'mlp'.")

  @property
  def encoder(self) -> Encoder:
    return Encoder(self.torso, tuple(self.torso_channels), self.torso_blocks)


def categorical_head(x: jax.Array, num_actions: int) -> CategoricalPolicy:
  logits = Linear(num_actions, w_init=orthogonal(0.01), name="logits")(x)
  return CategoricalPolicy(logits)


def gaussian_head(x: jax.Array, action_dim: int,
                  state_dependent_std: bool = False,
                  init_log_std: float = 0.0) -> GaussianPolicy:
  """A diagonal Gaussian; by default its log-std is a learned constant."""
  mean = Linear(action_dim, w_init=orthogonal(0.01), name="mean")(x)
  if state_dependent_std:
    log_std = Linear(action_dim, w_init=orthogonal(0.01), name="log_std")(x)
    log_std = log_std + init_log_std
  else:
    log_std = hk.get_parameter("log_std", (action_dim,), jnp.float32,
                               hk.initializers.Constant(init_log_std))
    log_std = jnp.broadcast_to(log_std, mean.shape)
  return GaussianPolicy(mean, log_std)


def value_head(x: jax.Array) -> Value:
  return Value(Linear(1, w_init=orthogonal(1.0), name="value")(x)[..., 0])


def distribution(policy) -> distrax.Distribution:
  """The distrax action distribution of a policy head's output."""
  if isinstance(policy, CategoricalPolicy):
    return distrax.Categorical(logits=policy.logits)
  return distrax.MultivariateNormalDiag(policy.mean, jnp.exp(policy.log_std))


def greedy_action(policy) -> jax.Array:
  """The mode: argmax of logits, or the Gaussian's mean."""
  if isinstance(policy, CategoricalPolicy):
    return jnp.argmax(policy.logits, axis=-1)
  return policy.mean


# Off-policy actor-critic heads (SAC, TD3, DDPG).


class TanhGaussianPolicy(NamedTuple):
  """A Gaussian over pre-squash actions; actions are tanh of its samples."""
  mean: jax.Array     # [B, D] pre-tanh mean
  log_std: jax.Array  # [B, D] pre-tanh log-std, within [log_std_min, log_std_max]


class DeterministicPolicy(NamedTuple):
  action: jax.Array  # [B, D] in [-1, 1]


class TwinQ(NamedTuple):
  """An ensemble of critics stacked on a leading axis."""
  q_values: jax.Array  # [N, B] for Q(s, a); [N, B, A] for Q(s, .) (discrete)


def tanh_gaussian_head(x: jax.Array, action_dim: int,
                       log_std_min: float = -5.0,
                       log_std_max: float = 2.0) -> TanhGaussianPolicy:
  """State-dependent mean and log-std, the log-std softly bounded by tanh
  (as CleanRL's and SpinningUp's SAC)."""
  mean = Linear(action_dim, name="mean")(x)
  log_std = jnp.tanh(Linear(action_dim, name="log_std")(x))
  log_std = log_std_min + 0.5 * (log_std_max - log_std_min) * (log_std + 1.0)
  return TanhGaussianPolicy(mean, log_std)


def tanh_gaussian(policy: TanhGaussianPolicy) -> distrax.Distribution:
  """tanh(N(mean, std)) as a distrax distribution over [-1, 1]^D.

  `log_prob` includes the change-of-variables term sum log(1 - tanh(x)^2),
  computed stably by distrax's Tanh bijector; use `sample_and_log_prob`
  rather than `log_prob` of a sample, which would need atanh of it.
  """
  base = distrax.MultivariateNormalDiag(policy.mean, jnp.exp(policy.log_std))
  return distrax.Transformed(base, distrax.Block(distrax.Tanh(), ndims=1))


def deterministic_head(x: jax.Array, action_dim: int) -> DeterministicPolicy:
  """tanh(linear(x)): an action in [-1, 1]^D (TD3, DDPG)."""
  return DeterministicPolicy(jnp.tanh(Linear(action_dim, name="action")(x)))


# The name scope of `twin_q`'s stacked layers (`first_critic` finds them by
# it).
CRITICS_SCOPE = "critics"


def twin_q(obs: jax.Array, action, hidden_sizes: Sequence[int], act: str,
           num_critics: int = 2, num_actions=None) -> TwinQ:
  """`num_critics` independent critic MLPs, computed as one batched MLP.

  Each layer holds all critics' weights stacked, [N, in, out], so the twins
  cost one einsum per layer rather than N matmuls (fewer, larger ops, which
  is what counts for small MLPs on a CPU). Each critic's
  weights are initialised independently, as hk.Linear's default.

  Args:
    obs: [B, ...] observations.
    action: [B, D] continuous actions, concatenated to the flat observation;
      None for discrete critics, which output one value per action.
    hidden_sizes, act: each critic's MLP.
    num_critics: 2 for twin critics (SAC, TD3), 1 for DDPG.
    num_actions: the number of discrete actions (with `action=None`).

  Returns:
    TwinQ with q_values [N, B] (continuous) or [N, B, A] (discrete).
  """
  x = obs.reshape(obs.shape[0], -1)
  if action is not None:
    x = jnp.concatenate([x, action.astype(x.dtype)], axis=-1)
  x = jnp.broadcast_to(x, (num_critics,) + x.shape)                # [N, B, in]
  sizes = list(hidden_sizes) + [1 if action is not None else num_actions]
  with hk.experimental.name_scope(CRITICS_SCOPE):
    for i, size in enumerate(sizes):
      fan_in = x.shape[-1]
      w = hk.get_parameter(
          f"w_{i}", (num_critics, fan_in, size), x.dtype,
          hk.initializers.TruncatedNormal(1.0 / np.sqrt(fan_in)))
      b = hk.get_parameter(f"b_{i}", (num_critics, 1, size), x.dtype,
                           jnp.zeros)
      x = dense(x, w) + b
      if i < len(sizes) - 1:
        x = activation(act)(x)
  return TwinQ(x[..., 0] if action is not None else x)


def first_critic(params: hk.Params) -> hk.Params:
  """`params` of a network with a `twin_q`, with only the first critic's
  slice of each of its stacked layers ([1, in, out]) and every other module
  as it is: the parameters of the same network built with `num_critics=1`.
  (TD3's actor ascends Q_1 alone: computing Q_2 there would be wasted.)"""
  return {name: (jax.tree.map(lambda p: p[:1], module)
                 if name.rsplit("/", 1)[-1] == CRITICS_SCOPE else module)
          for name, module in params.items()}


class CategoricalQ(NamedTuple):
  q_values: jax.Array  # [B, A] expected values under the distributions
  q_logits: jax.Array  # [B, A, K] logits over the atoms
  atoms: jax.Array     # [K] the fixed support


class QuantileQ(NamedTuple):
  q_values: jax.Array  # [B, A] means of the quantiles
  q_dist: jax.Array    # [B, N, A] quantile values (rlax's layout)
  tau: jax.Array       # [N] midpoints (2i + 1) / 2N (QR); [B, N] sampled (IQN)


def _action_outputs(x: jax.Array, num_actions: int, num_outputs: int,
                    dueling: bool) -> jax.Array:
  """[B, A, K] outputs; dueling splits them into V [B, 1, K] + A - mean(A).

  The dueling form follows Wang et al. (2016), eq. 9, applied per atom or
  quantile as Rainbow does.
  """
  batch = x.shape[0]
  if not dueling:
    out = Linear(num_actions * num_outputs, name="q")(x)
    return out.reshape(batch, num_actions, num_outputs)
  value = Linear(num_outputs, name="value")(x).reshape(batch, 1, num_outputs)
  advantage = Linear(num_actions * num_outputs, name="advantage")(x)
  advantage = advantage.reshape(batch, num_actions, num_outputs)
  return value + advantage - jnp.mean(advantage, axis=1, keepdims=True)


def q_head(x: jax.Array, num_actions: int, dueling: bool = False) -> QValues:
  """Action values [B, A]; `dueling` uses a value and an advantage stream."""
  return QValues(_action_outputs(x, num_actions, 1, dueling)[..., 0])


def categorical_q_head(x: jax.Array, num_actions: int, atoms: jax.Array,
                       dueling: bool = False) -> CategoricalQ:
  """C51's head (Bellemare et al., 2017): logits over a fixed support.

  Args:
    x: [B, F] features.
    num_actions: A.
    atoms: [K] the support, e.g. jnp.linspace(v_min, v_max, 51).
    dueling: combine value and advantage streams per atom.

  Returns:
    CategoricalQ with q_values [B, A], q_logits [B, A, K], atoms [K].
  """
  logits = _action_outputs(x, num_actions, atoms.shape[0], dueling)
  q_values = jnp.einsum("...k,k->...", jax.nn.softmax(logits, axis=-1),
                        atoms)
  return CategoricalQ(q_values, logits, atoms)


def quantile_q_head(x: jax.Array, num_actions: int, num_quantiles: int,
                    dueling: bool = False) -> QuantileQ:
  """QR-DQN's head (Dabney et al., 2018): N quantiles per action.

  Returns:
    QuantileQ with q_values [B, A], q_dist [B, N, A] and tau [N].
  """
  dist = _action_outputs(x, num_actions, num_quantiles, dueling)  # [B, A, N]
  dist = jnp.swapaxes(dist, 1, 2)                                 # [B, N, A]
  tau = (jnp.arange(num_quantiles, dtype=jnp.float32) + 0.5) / num_quantiles
  return QuantileQ(jnp.mean(dist, axis=1), dist, tau)


def cosine_embedding(tau: jax.Array, num_cosines: int) -> jax.Array:
  """IQN's embedding of quantile fractions: cos(pi * i * tau), i < n.

  Args:
    tau: [...] fractions in [0, 1].
    num_cosines: n (64 in Dabney et al., 2018).

  Returns:
    [..., n]; entry i = 0 is 1 for every tau (as in the paper and rejax).
  """
  i = jnp.arange(num_cosines, dtype=tau.dtype).reshape(
      (1,) * tau.ndim + (num_cosines,))
  return jnp.cos(jnp.pi * tau[..., None] * i)


def implicit_quantile_head(x: jax.Array, num_actions: int, tau: jax.Array,
                           num_cosines: int, act: str,
                           dueling: bool = False) -> QuantileQ:
  """IQN's head (Dabney et al., 2018): Z_tau(s, a) at sampled fractions.

  The state features psi(s) [B, F] are multiplied elementwise by the
  fractions' embedding phi(tau) = relu(Linear_F(cos(pi i tau))) [B, N, F];
  one hidden layer of F units (nonlinearity `act`) then gives the
  quantile values of every action, as DQN Zoo's and rejax's IQN.

  Args:
    x: [B, F] state features (the torso's output).
    num_actions: A.
    tau: [B, N] sampled fractions.
    num_cosines: size of the cosine embedding.
    act: the nonlinearity of the layer after the product.
    dueling: value and advantage streams per sampled fraction.

  Returns:
    QuantileQ with q_values [B, A] (the mean over the N samples: the
    risk-neutral Q), q_dist [B, N, A] and tau [B, N].
  """
  batch, features = x.shape
  num_taus = tau.shape[1]
  phi = jax.nn.relu(Linear(features, name="tau_embedding")(
      cosine_embedding(tau, num_cosines)))                        # [B, N, F]
  h = (x[:, None, :] * phi).reshape(batch * num_taus, features)
  h = activation(act)(Linear(features, name="quantile_hidden")(h))
  dist = _action_outputs(h, num_actions, 1, dueling)[..., 0]      # [BN, A]
  dist = dist.reshape(batch, num_taus, num_actions)
  return QuantileQ(jnp.mean(dist, axis=1), dist, tau)
