"""PatchGAN discriminators (NVlabs/SPADE `models/networks/discriminator.py`): NLayer and multi-scale, returning intermediate features."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.nn.blocks import lrelu
from spade_jax.nn.norms import NormLayer, avg_pool_3x3_s2, kernel_init

KW = 4
PADW = int(math.ceil((KW - 1.0) / 2))


class NLayerDiscriminator(nn.Module):
  """conv s2 + LReLU → (n_layers_D − 1) × [conv (+SN) + norm + LReLU] → conv → 1-channel logits.

  Returns the list of every group's output (`model0` … `model{n_layers_D}`); the last is the logits.
  With `intermediate=False` (official `no_ganFeat_loss`) only `[logits]`.
  `conv_bias`: whether the normed convs keep a bias (None: SPADE's rule, no bias before a norm;
  pix2pixHD: True). pix2pixHD's `n_layers_D = k` is this class with `n_layers_D = k + 1` (the same
  k normed convs, the last of stride 1, and k + 2 outputs).
  `last_middle_stride`: the stride of the last normed conv (SPADE and pix2pixHD: 1; SEAN: 2, every
  normed conv of stride 2).
  """

  ndf: int = 64
  n_layers_D: int = 4
  norm_D: str = "spectralinstance"
  axis_name: Optional[str] = None
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None
  intermediate: bool = True
  conv_bias: Optional[bool] = None
  last_middle_stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> list[jax.Array]:
    layer = lambda f, s, norm, name: NormLayer(f, norm, KW, s, PADW, axis_name=self.axis_name,
                                               w_init=self.w_init, dtype=self.dtype, name=name,
                                               use_bias=None if norm == "none" else self.conv_bias)
    feats = []
    x = lrelu(layer(self.ndf, 2, "none", "model0")(x, train))
    feats.append(x)
    nf = self.ndf
    for n in range(1, self.n_layers_D):
      nf = min(nf * 2, 512)
      stride = self.last_middle_stride if n == self.n_layers_D - 1 else 2
      x = lrelu(layer(nf, stride, self.norm_D, f"model{n}")(x, train))
      feats.append(x)
    x = layer(1, 1, "none", f"model{self.n_layers_D}")(x, train)
    feats.append(x.astype(jnp.float32))
    return feats if self.intermediate else feats[-1:]


class MultiscaleDiscriminator(nn.Module):
  """`num_D` NLayer discriminators; scale i sees the input avg-pooled (3×3, s2, p1) i times.

  Returns `[[features..., logits] for each scale]` (`[[logits] ...]` without `intermediate`).
  """

  num_D: int = 2
  ndf: int = 64
  n_layers_D: int = 4
  norm_D: str = "spectralinstance"
  axis_name: Optional[str] = None
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None
  intermediate: bool = True
  conv_bias: Optional[bool] = None  # see NLayerDiscriminator
  last_middle_stride: int = 1  # see NLayerDiscriminator

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> list[list[jax.Array]]:
    if self.dtype is not None:
      x = x.astype(self.dtype)
    outs = []
    for i in range(self.num_D):
      outs.append(NLayerDiscriminator(self.ndf, self.n_layers_D, self.norm_D, self.axis_name, self.w_init,
                                      self.dtype, self.intermediate, self.conv_bias, self.last_middle_stride,
                                      name=f"discriminator_{i}")(x, train))
      if i != self.num_D - 1:
        x = avg_pool_3x3_s2(x)
    return outs


def discriminate_pair(D: nn.Module, variables: dict, segmap: jax.Array, fake: jax.Array, real: jax.Array,
                      train: bool = True) -> tuple[list, list, dict]:
  """A conditional D on `[seg|fake ; seg|real]` in one batch (one set of batch statistics, as the
  official `discriminate`) → (fake outputs, real outputs, new D batch_stats)."""
  d_in = jnp.concatenate([jnp.concatenate([segmap, fake], -1), jnp.concatenate([segmap, real], -1)], 0)
  params, stats = variables["params"], variables.get("batch_stats", {})
  if train:
    outs, upd = D.apply({"params": params, "batch_stats": stats}, d_in, train=True, mutable=["batch_stats"])
    stats = upd["batch_stats"]
  else:
    outs = D.apply({"params": params, "batch_stats": stats}, d_in, train=False)
  n = fake.shape[0]
  return [[t[:n] for t in scale] for scale in outs], [[t[n:] for t in scale] for scale in outs], stats
