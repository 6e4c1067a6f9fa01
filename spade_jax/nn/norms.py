"""Normalization layers: parameter-free batch / instance / group norm and spectral normalization.

Layout is NHWC. Variables:
  * batch norm: `batch_stats/{mean, var}` (running statistics, momentum 0.1, unbiased running variance);
  * spectral norm: `batch_stats/{u, v}` (power-iteration vectors with PyTorch's meaning: the weight is
    viewed as a matrix `[out, in*kh*kw]` flattened in PyTorch's (in, kh, kw) order).

Cross-device batch statistics:
  * under `jax.pmap` / `shard_map` pass `axis_name`: means are `lax.pmean`-ed over it;
  * under `jax.jit` with a batch sharded over a mesh, the plain mean over the (global) batch axis already
    is the global statistic; leave `axis_name=None`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.nn.convolution import conv2d, output_hw

EPS = 1e-5
MOMENTUM = 0.1
# Spectral-norm convs divide the smaller of kernel and output by sigma (False: always the kernel).
SPECTRAL_DIVIDE_SMALLER = True
PARAM_FREE_NORMS = ("batch", "syncbatch", "instance", "group", "none")


class ParamFreeNorm(nn.Module):
  """Normalization without affine parameters (the `param_free_norm` of SPADE).

  kind: `batch` / `syncbatch` (batch statistics in training, running statistics in eval; `syncbatch`
  averages over `axis_name` when given), `instance`, `group` (`num_groups`), or `none`.
  """

  kind: str = "syncbatch"
  axis_name: Optional[str] = None
  num_groups: int = 32
  eps: float = EPS
  momentum: float = MOMENTUM

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.kind not in PARAM_FREE_NORMS:
      raise ValueError(f"unknown parameter-free norm {self.kind!r}; expected one of {PARAM_FREE_NORMS}")
    if self.kind == "none":
      return x
    dtype = x.dtype
    x32 = x.astype(jnp.float32)
    if self.kind == "instance":
      mean = x32.mean(axis=(1, 2), keepdims=True)
      var = jnp.square(x32 - mean).mean(axis=(1, 2), keepdims=True)
      return ((x32 - mean) * jax.lax.rsqrt(var + self.eps)).astype(dtype)
    if self.kind == "group":
      b, h, w, c = x.shape
      g = min(self.num_groups, c)
      if c % g:
        raise ValueError(f"group norm: {c} channels are not divisible by {g} groups")
      xg = x32.reshape(b, h, w, g, c // g)
      mean = xg.mean(axis=(1, 2, 4), keepdims=True)
      var = jnp.square(xg - mean).mean(axis=(1, 2, 4), keepdims=True)
      return ((xg - mean) * jax.lax.rsqrt(var + self.eps)).reshape(x.shape).astype(dtype)

    # batch / syncbatch
    c = x.shape[-1]
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
    if not train:
      mean, var = ra_mean.value, ra_var.value
    else:
      sync = self.axis_name is not None and self.kind == "syncbatch"
      n = x.shape[0] * x.shape[1] * x.shape[2]
      mean = x32.mean(axis=(0, 1, 2))
      if sync:
        mean = jax.lax.pmean(mean, self.axis_name)
        n = n * jax.lax.psum(1, self.axis_name)
      # Two-pass (centred) variance: the biased batch variance used for normalisation.
      var = jnp.square(x32 - mean).mean(axis=(0, 1, 2))
      if sync:
        var = jax.lax.pmean(var, self.axis_name)
      if not self.is_initializing():
        unbiased = var * (n / jnp.maximum(n - 1, 1))
        ra_mean.value = (1 - self.momentum) * ra_mean.value + self.momentum * mean
        ra_var.value = (1 - self.momentum) * ra_var.value + self.momentum * unbiased
    y = (x32 - mean) * jax.lax.rsqrt(var + self.eps)
    return y.astype(dtype)


def _l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  return x / jnp.maximum(jnp.linalg.norm(x), eps)


def _unit_normal(shape: Sequence[int]) -> Callable[[jax.Array], jax.Array]:
  def init(key):
    return _l2_normalize(jax.random.normal(key, shape, jnp.float32))
  return init


def spectral_sigma(module: nn.Module, kernel: jax.Array, train: bool, eps: float = 1e-12) -> jax.Array:
  """The spectral norm estimate of `kernel` (HWIO or [in, out]), PyTorch `spectral_norm` semantics.

  Train: one power iteration from the stored `u` (v = normalize(Wᵀu), u = normalize(Wv)), stored back.
  Eval: stored `u`, `v` used as they are. Returns sigma = uᵀ W v (float32) with u, v treated as
  constants (the gradient flows through W only).

  W is PyTorch's `[out, in·kh·kw]` matrix; `v` is stored in its (in, kh, kw) order. The products are
  taken on the kernel as it is laid out (`[kh·kw·in, out]`, a free reshape) and only the short vector
  `v` is reordered, so the large kernels are never transposed.
  """
  out = kernel.shape[-1]
  spatial = kernel.shape[:-2]
  cin = kernel.shape[-2]
  n_in = cin * int(np.prod(spatial, dtype=np.int64))
  k2 = kernel.reshape(n_in, out).astype(jnp.float32)  # rows in (kh, kw, in) order
  # (in, kh, kw) order <-> (kh, kw, in) order of the length-n_in vectors
  to_hwi = lambda t: jnp.moveaxis(t.reshape((cin,) + spatial), 0, -1).reshape(-1)  # noqa: E731
  to_ihw = lambda t: jnp.moveaxis(t.reshape(spatial + (cin,)), -1, 0).reshape(-1)  # noqa: E731
  u_var = module.variable("batch_stats", "u", lambda: _unit_normal((out,))(module.make_rng("params")))
  v_var = module.variable("batch_stats", "v", lambda: _unit_normal((n_in,))(module.make_rng("params")))
  u, v = u_var.value, v_var.value
  with jax.named_scope("spectral_norm"):
    if train and not module.is_initializing():
      k_sg = jax.lax.stop_gradient(k2)
      v = _l2_normalize(to_ihw(k_sg @ u), eps)
      u = _l2_normalize(jnp.dot(to_hwi(v), k_sg), eps)
      u_var.value, v_var.value = u, v
    return jnp.dot(jnp.dot(to_hwi(v), k2), u)


def spectral_normalize(module: nn.Module, kernel: jax.Array, train: bool, eps: float = 1e-12) -> jax.Array:
  """`kernel / sigma` (see `spectral_sigma`)."""
  sigma = spectral_sigma(module, kernel, train, eps)
  return kernel / sigma.astype(kernel.dtype)


def kernel_init(init_type: str = "xavier", gain: float = 0.02) -> Callable[..., Any]:
  """The official `init_weights` schemes for conv / linear weights (biases are zero)."""
  if init_type == "xavier":
    return nn.initializers.variance_scaling(gain**2, "fan_avg", "normal")
  if init_type == "xavier_uniform":
    return nn.initializers.variance_scaling(gain**2, "fan_avg", "uniform")
  if init_type == "normal":
    return nn.initializers.normal(gain)
  if init_type == "kaiming":
    return nn.initializers.variance_scaling(2.0, "fan_in", "normal")
  if init_type == "orthogonal":
    return nn.initializers.orthogonal(gain)
  if init_type == "none":
    return nn.initializers.lecun_normal()
  raise ValueError(f"unknown init_type {init_type!r}; expected xavier, xavier_uniform, normal, kaiming, "
                   "orthogonal or none")


class Conv(nn.Module):
  """Conv2d with PyTorch-style explicit padding and optional spectral norm (NHWC, HWIO kernel)."""

  features: int
  kernel_size: int = 3
  stride: int = 1
  padding: Optional[int] = None  # default: kernel_size // 2
  use_bias: bool = True
  spectral: bool = False
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None
  impl: str = "auto"  # lowering: auto | library | matmul (see spade_jax.nn.convolution)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.w_init, (k, k, x.shape[-1], self.features), jnp.float32)
    dtype = self.dtype or x.dtype
    pad = k // 2 if self.padding is None else self.padding
    sigma = None
    if self.spectral:
      sigma = spectral_sigma(self, kernel, train)
      ho, wo = output_hw(x.shape[1], x.shape[2], k, self.stride, pad)
      # conv(x, W / sigma) = conv(x, W) / sigma: divide whichever of kernel and output is smaller.
      if not SPECTRAL_DIVIDE_SMALLER or kernel.size <= x.shape[0] * ho * wo * self.features:
        kernel, sigma = kernel / sigma, None
    y = conv2d(x.astype(dtype), kernel.astype(dtype), self.stride, pad, self.impl)
    if sigma is not None:
      y = y / sigma.astype(dtype)
    if self.use_bias:
      bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
      y = y + bias.astype(dtype)
    return y


class Dense(nn.Module):
  """Linear layer with the official init and optional spectral norm."""

  features: int
  use_bias: bool = True
  spectral: bool = False
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    kernel = self.param("kernel", self.w_init, (x.shape[-1], self.features), jnp.float32)
    if self.spectral:
      kernel = spectral_normalize(self, kernel, train)
    dtype = self.dtype or x.dtype
    y = x.astype(dtype) @ kernel.astype(dtype)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(dtype)
    return y


def parse_norm_string(norm: str) -> tuple[bool, str]:
  """Official non-SPADE norm strings (`norm_D`, `norm_E`): `[spectral]<subnorm>` → (spectral, subnorm).

  subnorm: instance | batch | syncbatch (also the official spelling `sync_batch`) | group | none | ''.
  """
  spectral = norm.startswith("spectral")
  sub = norm[len("spectral"):] if spectral else norm
  sub = {"sync_batch": "syncbatch", "": "none"}.get(sub, sub)
  if sub not in PARAM_FREE_NORMS:
    raise ValueError(f"unknown norm string {norm!r}: expected [spectral] followed by one of "
                     "instance, batch, sync_batch, group, none")
  return spectral, sub


class NormLayer(nn.Module):
  """The official `get_nonspade_norm_layer` applied to a conv: SN on the conv, then the norm.

  As officially: the conv loses its bias when a norm follows; `instance` has no affine parameters,
  `batch`/`syncbatch` have affine `scale`/`bias` (official BatchNorm2d(affine=True)).
  `use_bias` overrides the bias rule (pix2pixHD's convs keep their bias before a norm); None = the rule.
  Submodules are named `conv` and `norm` (the official Sequential indices 0 and 1).
  """

  features: int
  norm: str
  kernel_size: int = 3
  stride: int = 1
  padding: Optional[int] = None
  axis_name: Optional[str] = None
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None
  use_bias: Optional[bool] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    spectral, sub = parse_norm_string(self.norm)
    use_bias = (sub == "none") if self.use_bias is None else bool(self.use_bias)
    x = Conv(self.features, self.kernel_size, self.stride, self.padding, use_bias=use_bias,
             spectral=spectral, w_init=self.w_init, dtype=self.dtype, name="conv")(x, train)
    if sub == "none":
      return x
    x = ParamFreeNorm(sub, axis_name=self.axis_name, name="norm")(x, train)
    if sub in ("batch", "syncbatch"):
      scale = self.param("scale", nn.initializers.ones, (self.features,), jnp.float32)
      bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
      x = x * scale.astype(x.dtype) + bias.astype(x.dtype)
    return x


def nearest_resize(x: jax.Array, size: tuple[int, int]) -> jax.Array:
  """PyTorch `F.interpolate(mode='nearest')` on NHWC: source index = floor(dst * in / out)."""
  h, w = x.shape[1], x.shape[2]
  oh, ow = size
  if (h, w) == (oh, ow):
    return x
  iy = np.minimum(np.floor(np.arange(oh, dtype=np.float32) * np.float32(h / oh)).astype(np.int32), h - 1)
  ix = np.minimum(np.floor(np.arange(ow, dtype=np.float32) * np.float32(w / ow)).astype(np.int32), w - 1)
  if h % oh == 0 and w % ow == 0 and oh <= h:  # integer downsampling: a strided slice
    return x[:, ::h // oh, ::w // ow]
  return x[:, iy][:, :, ix]


def upsample2x(x: jax.Array) -> jax.Array:
  """Nearest-neighbour ×2 upsampling (`nn.Upsample(scale_factor=2)`)."""
  b, h, w, c = x.shape
  return jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c)).reshape(b, 2 * h, 2 * w, c)


def avg_pool_3x3_s2(x: jax.Array) -> jax.Array:
  """`avg_pool2d(k=3, s=2, p=1, count_include_pad=False)` on NHWC."""
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  s = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 2, 2, 1), pad)
  ones = jnp.ones((1, x.shape[1], x.shape[2], 1), x.dtype)
  n = jax.lax.reduce_window(ones, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 2, 2, 1), pad)
  return s / n
