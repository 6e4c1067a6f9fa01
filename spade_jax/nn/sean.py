"""SEAN-style modulation (ZPdesu/SEAN; SPEC §7.3): per-region style codes blended with SPADE.

* `StyleEncoder` (the official `Zencoder(3 → 512)`, ngf 32, InstanceNorm, LeakyReLU 0.2): reflect-pad 1 →
  conv 3×3 (3→ngf); conv 3×3 s2 (→2ngf); conv 3×3 s2 (→4ngf); transposed conv 3×3 s2 (→8ngf);
  reflect-pad 1 → conv 3×3 (→style_dim) → tanh, at half the input resolution. The output is averaged over
  each class region (class channels resized nearest) → style codes `[B, K, style_dim]` (zeros for absent
  classes). The generator runs it once, from `cond["style_image"]`, and puts the codes in `cond["style"]`;
  codes given by the caller in `cond["style"]` are used as they are (style editing / mixing).
* `ACE` (replaces SPADE in every ResBlock norm):
  1. noise: a per-pixel N(0, 1) map `[B, H, W, 1]` times a learned per-channel `noise_var` (init 0) is added
     to x before normalisation — only when a `noise` RNG is supplied (`SPADEModel.generate(rng=...)`);
  2. the parameter-free norm (from `norm_G`; the official code hard-codes SyncBN = our default);
  3. style branch: for every class j, `ReLU(fc_j(style[b, j]))` (a Linear per class, or one shared Linear
     with `per_class_fc=False`) is broadcast over that class's pixels → `[B, H, W, style_dim]`;
     `gamma_s`, `beta_s` = conv k×k (style_dim → C);
  4. SPADE branch: conv k×k (semantic_nc → nhidden) + ReLU → conv k×k (→ C) for `gamma_o`, `beta_o`;
  5. blend: `a = sigmoid(blending_gamma)` (init 0 → 0.5): `gamma = a·gamma_s + (1 − a)·gamma_o`, β alike;
     output `norm · (1 + gamma) + beta`.
  As officially, the layers of the last block (`up_3`) have no style branch (`no_style_blocks`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.nn.clade import class_channels
from spade_jax.nn.norms import Conv, ParamFreeNorm, kernel_init, nearest_resize


def _lrelu(x):
  return nn.leaky_relu(x, 0.2)


def _reflect_pad1(x):
  return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")


def _instance_norm(x):
  return ParamFreeNorm("instance")(x, False)


class ConvTranspose2x(nn.Module):
  """PyTorch `ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)`: H → 2H (a conv over the
  2-dilated input; the kernel is learned, so its spatial flip relative to PyTorch is immaterial)."""

  features: int
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", self.w_init, (3, 3, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    dtype = self.dtype or x.dtype
    y = jax.lax.conv_general_dilated(x.astype(dtype), kernel.astype(dtype), (1, 1), [(1, 2), (1, 2)],
                                     lhs_dilation=(2, 2), dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias.astype(dtype)


def region_average(features: jax.Array, classes: jax.Array) -> jax.Array:
  """Mean of `features [B, h, w, S]` over each class region of `classes [B, H, W, K]` (resized nearest to
  h×w) → `[B, K, S]`; zeros for classes absent from the image."""
  seg = nearest_resize(classes, features.shape[1:3]).astype(features.dtype)
  sums = jnp.einsum("bhwk,bhws->bks", seg, features)
  count = seg.sum(axis=(1, 2))[..., None]
  return jnp.where(count > 0, sums / jnp.maximum(count, 1), 0)


class StyleEncoder(nn.Module):
  """Style image → per-class style codes; a generator-level preparation step (see module docstring)."""

  style_dim: int = 512
  ngf: int = 32
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  def encode(self, image: jax.Array) -> jax.Array:
    conv = functools.partial(Conv, w_init=self.w_init, dtype=self.dtype)
    nf = self.ngf
    x = _lrelu(_instance_norm(conv(nf, 3, padding=0, name="conv_0")(_reflect_pad1(image))))
    x = _lrelu(_instance_norm(conv(2 * nf, 3, stride=2, padding=1, name="down_0")(x)))
    x = _lrelu(_instance_norm(conv(4 * nf, 3, stride=2, padding=1, name="down_1")(x)))
    x = _lrelu(_instance_norm(ConvTranspose2x(8 * nf, w_init=self.w_init, dtype=self.dtype, name="up_0")(x)))
    x = conv(self.style_dim, 3, padding=0, name="conv_out")(_reflect_pad1(x))
    return jnp.tanh(x.astype(jnp.float32))

  @nn.compact
  def __call__(self, cond: dict, train: bool) -> dict:
    del train
    if "style" in cond:
      return cond
    if "style_image" not in cond:
      raise ValueError("model.norm='sean' needs a style image: call SPADEModel.generate(..., image=...) "
                       "(cond['style_image']) or pass style codes as cond={'style': [B, K, style_dim]}")
    style = region_average(self.encode(cond["style_image"]), class_channels(cond).astype(jnp.float32))
    return {**cond, "style": style}


def _per_class_init(base: Callable[..., Any]) -> Callable[..., Any]:
  """`base` (a 2-D initializer) applied independently to each leading slice of a `[K, in, out]` kernel."""
  def init(key, shape, dtype=jnp.float32):
    keys = jax.random.split(key, shape[0])
    return jax.vmap(lambda k: base(k, shape[1:], dtype))(keys)
  return init


class ACE(nn.Module):
  """SEAN's ACE layer; sows `gamma` / `beta` into `intermediates` when that collection is mutable."""

  param_free: str = "syncbatch"
  kernel_size: int = 3
  nhidden: int = 128
  per_class_fc: bool = True
  no_style_blocks: tuple[str, ...] = ("up_3",)
  axis_name: Optional[str] = None
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @property
  def use_style(self) -> bool:
    return not (len(self.path) >= 2 and self.path[-2] in self.no_style_blocks)

  @nn.compact
  def __call__(self, x: jax.Array, cond: dict, train: bool) -> jax.Array:
    dtype = self.dtype or x.dtype
    hw, c = x.shape[1:3], x.shape[-1]
    noise_var = self.param("noise_var", nn.initializers.zeros, (c,), jnp.float32)
    if self.has_rng("noise"):
      noise = jax.random.normal(self.make_rng("noise"), x.shape[:3] + (1,), jnp.float32)
      x = x + (noise * noise_var).astype(x.dtype)
    normalized = ParamFreeNorm(self.param_free, axis_name=self.axis_name, name="param_free_norm")(x, train)

    conv = functools.partial(Conv, kernel_size=self.kernel_size, w_init=self.w_init, dtype=dtype)
    seg = nearest_resize(cond["segmap"], hw).astype(dtype)
    actv = nn.relu(conv(self.nhidden, name="mlp_shared")(seg))
    gamma = conv(c, name="mlp_gamma")(actv)
    beta = conv(c, name="mlp_beta")(actv)

    if self.use_style:
      style = cond["style"]  # [B, K, S]
      k, s = style.shape[1], style.shape[2]
      if self.per_class_fc:
        w = self.param("fc_mu_kernel", _per_class_init(self.w_init), (k, s, s), jnp.float32)
        b = self.param("fc_mu_bias", nn.initializers.zeros, (k, s), jnp.float32)
        mu = jnp.einsum("bks,kst->bkt", style.astype(dtype), w.astype(dtype)) + b.astype(dtype)
      else:
        w = self.param("fc_mu_kernel", self.w_init, (s, s), jnp.float32)
        b = self.param("fc_mu_bias", nn.initializers.zeros, (s,), jnp.float32)
        mu = style.astype(dtype) @ w.astype(dtype) + b.astype(dtype)
      mu = nn.relu(mu)  # [B, K, S]
      classes = nearest_resize(class_channels(cond), hw)
      ids = jnp.argmax(classes, axis=-1)
      present = jnp.any(classes > 0, axis=-1, keepdims=True)
      b_idx = jnp.arange(mu.shape[0])[:, None, None]
      middle = jnp.where(present, mu[b_idx, ids], 0).astype(dtype)  # [B, H, W, S]
      gamma_s = conv(c, name="conv_gamma")(middle)
      beta_s = conv(c, name="conv_beta")(middle)
      a_g = jax.nn.sigmoid(self.param("blending_gamma", nn.initializers.zeros, (), jnp.float32)).astype(dtype)
      a_b = jax.nn.sigmoid(self.param("blending_beta", nn.initializers.zeros, (), jnp.float32)).astype(dtype)
      gamma = a_g * gamma_s + (1 - a_g) * gamma
      beta = a_b * beta_s + (1 - a_b) * beta
    self.sow("intermediates", "gamma", gamma)
    self.sow("intermediates", "beta", beta)
    return normalized * (1 + gamma) + beta
