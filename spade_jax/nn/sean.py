"""SEAN (Zhu et al., CVPR 2020; ZPdesu/SEAN `models/networks/architecture.py: Zencoder`,
`normalization.py: ACE`): semantic region-adaptive normalization with one style code per region.

Both the `sean` family and the norms-benchmark variant `model.norm = "sean"` of the `spade` family use
these layers (through `sean_modulation`).

* `Zencoder` (style encoder, a generator-level preparation step): reflect-pad 1 → conv 3×3 (3→ngf) →
  IN → LReLU; conv 3×3 s2 (→2ngf) → IN → LReLU; conv 3×3 s2 (→4ngf) → IN → LReLU; transposed conv
  3×3 s2 output-padding 1 (→8ngf) → IN → LReLU; reflect-pad 1 → conv 3×3 (→style_length) → tanh
  (ngf 32 officially, whatever the generator's width; InstanceNorm without affine parameters). The
  feature map (half the input size) is averaged over every channel of `cond["segmap"]` (one-hot classes,
  don't-care and instance-edge channels alike), the segmap resized nearest to the feature size: style codes
  `[B, semantic_nc, style_length]`, a zero row where the channel has no pixel at that size
  (`region_average`). Codes in `cond["style"]` (given by the caller: editing, mixing) are used as they are.
* `ACE` (the norm of every residual block):
  1. noise: one N(0, 1) value per pixel, shared by the channels and scaled by a learned per-channel
     `noise_var` (init 0), added to x before the norm, in training and at test time. The official draw
     has the layout `[B, W, H, 1]` (width first); ours has the same layout (a replayed official draw gives
     the official numbers): `cond["noise"]["<layer path>"]` when given, else a draw from the `noise`
     RNG stream; without either, no noise;
  2. the norm: always synchronized batch norm without affine parameters (running statistics in eval),
     whatever `norm_G` says (the official layer hard-codes it);
  3. SPADE branch (`Spade`): SPADE's γ/β convs on the segmap (kernel size from `norm_G`, `nhidden`);
  4. style branch (all blocks but `no_style_blocks`, officially all but `up_3`): a Linear per segmap
     channel (`fc_mu_kernel [n, S, S]`, `fc_mu_bias [n, S]`; the official code builds 19 whatever the
     number of channels, so `num_style_fc` 19, or 0 = one per channel, 1 = one shared) maps channel j's
     code to `ReLU(fc_j(code_j))` (one batched matmul over the channels), broadcast over the pixels of
     channel j at this layer's size (an einsum; where channels overlap the later channel wins, as the
     official in-order writes do, so instance edges overwrite the class style; zero where no channel is
     set); `conv_gamma`, `conv_beta` (3×3, S → C) turn the map into γ_s, β_s (computed on the K-channel
     map of which channel each pixel takes when that is cheaper: `RegionConv`);
  5. blend: `γ = σ(blending_gamma)·γ_s + (1 − σ(blending_gamma))·γ_spade`, β alike (scalars, init 0 → ½);
     output `norm(x + noise) · (1 + γ) + β`. Layers without a style branch still own the (unused)
     blending scalars, as officially.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.nn.convolution import conv2d, patches
from spade_jax.nn.modulation import SPADE, Modulation
from spade_jax.nn.norms import Conv, ParamFreeNorm, kernel_init, nearest_resize

OFFICIAL_STYLE_FCS = 19  # fc_mu0 … fc_mu18 in every styled ACE layer of the official code


def _lrelu(x):
  return nn.leaky_relu(x, 0.2)


def _reflect_pad1(x):
  return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")


def _instance_norm(x):
  return ParamFreeNorm("instance")(x, False)


class ConvTranspose2x(nn.Module):
  """PyTorch `ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)`: H → 2H, as a convolution of
  the 2-dilated input padded (1, 2). `kernel` is HWIO of that convolution: PyTorch's weight
  `[in, out, kh, kw]` spatially flipped (`official.py` converts)."""

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


def region_masks(segmap: jax.Array, size: tuple[int, int]) -> jax.Array:
  """`segmap [B, H, W, K]` resized nearest to `size`, as float 0/1 masks (a pixel belongs to channel j
  where that channel is non-zero)."""
  return (nearest_resize(segmap, size) != 0).astype(jnp.float32)


def region_presence(segmap: jax.Array, size: tuple[int, int]) -> jax.Array:
  """`[B, K]` bool: whether channel j has a pixel at `size` (nearest resize)."""
  return jnp.any(nearest_resize(segmap, size) != 0, axis=(1, 2))


def region_average(features: jax.Array, segmap: jax.Array) -> jax.Array:
  """Mean of `features [B, h, w, S]` over the pixels of each channel of `segmap [B, H, W, K]` (resized
  nearest to h×w) → `[B, K, S]`; zero rows for channels without a pixel at that size."""
  masks = region_masks(segmap, features.shape[1:3])
  sums = jnp.einsum("bhwk,bhws->bks", masks, features.astype(jnp.float32))
  count = masks.sum(axis=(1, 2))[..., None]
  return jnp.where(count > 0, sums / jnp.maximum(count, 1), 0)


def winner_masks(segmap: jax.Array, dtype=jnp.float32) -> jax.Array:
  """`[B, h, w, K]` one-hot (or all-zero) map of the channel whose style a pixel takes: the last set
  channel (channels are written in increasing order, a later one overwriting an earlier one)."""
  masks = (segmap != 0).astype(dtype)
  later = jnp.flip(jnp.cumsum(jnp.flip(masks, -1), -1), -1) - masks  # set channels after j
  return masks * (later == 0).astype(dtype)


def broadcast_styles(mu: jax.Array, segmap: jax.Array) -> jax.Array:
  """`mu [B, K, S]` written over the pixels of each channel of `segmap [B, h, w, K]` (already at the
  target size) → `[B, h, w, S]`: channels in increasing order, a later channel overwriting an earlier
  one where both are set, zero where none is."""
  return jnp.einsum("bhwk,bks->bhws", winner_masks(segmap, mu.dtype), mu)


class RegionConv(nn.Module):
  """`Conv(features, 3)` (same variables: `kernel [3, 3, S, C]`, `bias`) applied to the style map
  `broadcast_styles(mu, segmap)` without building it when that is cheaper: the map is `winner @ mu` with a
  one-hot-or-zero `winner [B, h, w, K]`, so the convolution equals a 3×3 convolution of `winner` with the
  per-row kernel `mu[b] @ kernel` (`[3, 3, K, C]`), as patches of `winner` times that kernel: B·h·w·9·K·C
  + B·K·9·S·C multiply-adds instead of B·h·w·9·S·C (K = 19 channels against S = 512 officially).
  The same sums in another order (float32 rounding only)."""

  features: int
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @nn.compact
  def __call__(self, mu: jax.Array, winner: jax.Array) -> jax.Array:
    b, h, w, k = winner.shape
    s, c = mu.shape[-1], self.features
    dtype = self.dtype or mu.dtype
    kernel = self.param("kernel", self.w_init, (3, 3, s, c), jnp.float32).astype(dtype)
    bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32).astype(dtype)
    mu, winner = mu.astype(dtype), winner.astype(dtype)
    if h * w * k + k * s >= h * w * s:  # dense: build the style map
      return conv2d(jnp.einsum("bhwk,bks->bhws", winner, mu), kernel, 1, 1) + bias
    per_row = jnp.einsum("bks,ijsc->bijkc", mu, kernel).reshape(b, 9 * k, c)
    return jnp.einsum("bhwp,bpc->bhwc", patches(winner, 3, 1, 1), per_row) + bias


class Zencoder(nn.Module):
  """Style photo → per-channel style codes (see the module docstring). As a preparation step it reads
  `cond["style_image"]` and `cond["segmap"]` and adds `cond["style"]` (and `cond["style_presence"]`,
  `[B, K]` bool: the channels present at the encoder's resolution). Submodules carry the official
  `Zencoder.model.<i>` indices (`model_1`, `model_4`, `model_7`, `model_10`, `model_14`)."""

  style_length: int = 512
  ngf: int = 32
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @nn.compact
  def features(self, image: jax.Array) -> jax.Array:
    conv = functools.partial(Conv, w_init=self.w_init, dtype=self.dtype)
    nf = self.ngf
    x = _lrelu(_instance_norm(conv(nf, 3, padding=0, name="model_1")(_reflect_pad1(image))))
    x = _lrelu(_instance_norm(conv(2 * nf, 3, stride=2, padding=1, name="model_4")(x)))
    x = _lrelu(_instance_norm(conv(4 * nf, 3, stride=2, padding=1, name="model_7")(x)))
    x = _lrelu(_instance_norm(ConvTranspose2x(8 * nf, w_init=self.w_init, dtype=self.dtype, name="model_10")(x)))
    x = conv(self.style_length, 3, padding=0, name="model_14")(_reflect_pad1(x))
    return jnp.tanh(x.astype(jnp.float32))

  def __call__(self, cond: dict, train: bool) -> dict:
    del train
    if "style" in cond:
      return cond
    if "style_image" not in cond:
      raise ValueError("a SEAN generator needs a style image (cond['style_image']) or per-region style codes "
                       "(cond['style'], [B, semantic_nc, style_length])")
    feats = self.features(cond["style_image"])
    self.sow("intermediates", "features", feats)
    codes = region_average(feats, cond["segmap"])
    return {**cond, "style": codes, "style_presence": region_presence(cond["segmap"], feats.shape[1:3])}


def _per_channel_init(base: Callable[..., Any]) -> Callable[..., Any]:
  """`base` (an initializer of a `[in, out]` kernel) applied independently to each slice of `[n, in, out]`."""
  def init(key, shape, dtype=jnp.float32):
    keys = jax.random.split(key, shape[0])
    return jax.vmap(lambda k: base(k, shape[1:], dtype))(keys)
  return init


def noise_key(path) -> str:
  """The key of an ACE layer's draw in `cond["noise"]`: its module path joined by '/', e.g. 'up_0/norm_s'."""
  return "/".join(path)


class ACE(nn.Module):
  """SEAN's ACE layer (see the module docstring); sows its output (`out`) into `intermediates`."""

  kernel_size: int = 3
  nhidden: int = 128
  num_style_fc: int = OFFICIAL_STYLE_FCS  # 0: one per segmap channel; 1: one shared Linear
  no_style_blocks: tuple[str, ...] = ("up_3",)
  axis_name: Optional[str] = None
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @property
  def use_style(self) -> bool:
    return not (len(self.path) >= 2 and self.path[-2] in self.no_style_blocks)

  def _noise(self, cond: dict, shape) -> Optional[jax.Array]:
    """`[B, H, W, 1]` from the official-layout draw `[B, W, H, 1]` (given, or drawn), or None."""
    b, h, w = shape[:3]
    given = cond.get("noise") or {}
    key = noise_key(self.path)
    if key in given:
      draw = jnp.asarray(given[key], jnp.float32)
      if draw.shape != (b, w, h, 1):
        raise ValueError(f"cond['noise'][{key!r}]: shape {draw.shape}, expected the official layout "
                         f"[B, W, H, 1] = {(b, w, h, 1)}")
    elif self.has_rng("noise"):
      draw = jax.random.normal(self.make_rng("noise"), (b, w, h, 1), jnp.float32)
    else:
      return None
    return jnp.swapaxes(draw, 1, 2)

  @nn.compact
  def __call__(self, x: jax.Array, cond: dict, train: bool) -> jax.Array:
    dtype = self.dtype or x.dtype
    hw, c = x.shape[1:3], x.shape[-1]
    noise_var = self.param("noise_var", nn.initializers.zeros, (c,), jnp.float32)
    blend_g = self.param("blending_gamma", nn.initializers.zeros, (1,), jnp.float32)
    blend_b = self.param("blending_beta", nn.initializers.zeros, (1,), jnp.float32)
    noise = self._noise(cond, x.shape)
    if noise is not None:
      x = (x.astype(jnp.float32) + noise * noise_var).astype(x.dtype)
    normalized = ParamFreeNorm("syncbatch", axis_name=self.axis_name, name="param_free_norm")(x, train)
    gamma, beta = SPADE(kernel_size=self.kernel_size, nhidden=self.nhidden, w_init=self.w_init, dtype=self.dtype,
                        params_only=True, name="Spade")(x, cond, train)

    if self.use_style:
      style = cond["style"]  # [B, K, S]
      seg = cond["segmap"]
      k, s = seg.shape[-1], style.shape[-1]
      if style.ndim != 3 or style.shape[1] != k:
        raise ValueError(f"style codes of shape {style.shape}: expected [B, {k}, S], one row per segmap "
                         "channel (classes, then don't-care and instance-edge channels when present)")
      n = self.num_style_fc or k
      if n != 1 and n < k:
        raise ValueError(f"the segmap has {k} channels but the ACE layer has {n} style Linear layers "
                         f"(num_style_fc={self.num_style_fc}; the official code builds 19 and fails beyond)")
      w = self.param("fc_mu_kernel", _per_channel_init(self.w_init), (n, s, s), jnp.float32)
      b = self.param("fc_mu_bias", nn.initializers.zeros, (n, s), jnp.float32)
      style = style.astype(dtype)
      if n == 1:
        mu = style @ w[0].astype(dtype) + b[0].astype(dtype)
      else:
        mu = jnp.einsum("bks,kst->bkt", style, w[:k].astype(dtype)) + b[:k].astype(dtype)
      mu, winner = nn.relu(mu), winner_masks(nearest_resize(seg, hw), dtype)
      conv = functools.partial(RegionConv, c, w_init=self.w_init, dtype=dtype)
      gamma_s = conv(name="conv_gamma")(mu, winner)
      beta_s = conv(name="conv_beta")(mu, winner)
      a_g = jax.nn.sigmoid(blend_g[0]).astype(gamma.dtype)
      a_b = jax.nn.sigmoid(blend_b[0]).astype(beta.dtype)
      gamma = a_g * gamma_s + (1 - a_g) * gamma
      beta = a_b * beta_s + (1 - a_b) * beta
    out = normalized * (1 + gamma) + beta
    self.sow("intermediates", "out", out)
    return out


def sean_modulation(*, kernel_size: int = 3, nhidden: int = 128, style_length: int = 512, encoder_ngf: int = 32,
                    num_style_fc: int = OFFICIAL_STYLE_FCS, no_style_blocks: tuple[str, ...] = ("up_3",),
                    axis_name: Optional[str] = None, w_init: Callable[..., Any] = kernel_init(), dtype: Any = None,
                    encoder_name: str = "Zencoder") -> Modulation:
  """The ACE layer factory with the Zencoder as the generator's preparation step."""
  layer = functools.partial(ACE, kernel_size=kernel_size, nhidden=nhidden, num_style_fc=num_style_fc,
                            no_style_blocks=tuple(no_style_blocks), axis_name=axis_name, w_init=w_init, dtype=dtype)
  prepare = functools.partial(Zencoder, style_length=style_length, ngf=encoder_ngf, w_init=w_init, dtype=dtype,
                              name=encoder_name)
  return Modulation(layer, prepare=prepare)
