"""A small U-Net segmenter for the mIoU / accuracy metrics on datasets without a published segmenter
(the embedded synthetic landscapes). Image `[B, H, W, 3]` in [-1, 1] → logits `[B, H, W, num_classes]`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.nn.norms import upsample2x


class _ConvBlock(nn.Module):
  features: int

  @nn.compact
  def __call__(self, x):
    for _ in range(2):
      x = nn.Conv(self.features, (3, 3))(x)
      x = nn.GroupNorm(num_groups=min(8, self.features))(x)
      x = nn.relu(x)
    return x


class UNetSegmenter(nn.Module):
  num_classes: int
  width: int = 32
  depth: int = 3

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    skips = []
    for i in range(self.depth):
      x = _ConvBlock(self.width * 2**i)(x)
      skips.append(x)
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = _ConvBlock(self.width * 2**self.depth)(x)
    for i in reversed(range(self.depth)):
      x = jnp.concatenate([upsample2x(x), skips[i]], -1)
      x = _ConvBlock(self.width * 2**i)(x)
    return nn.Conv(self.num_classes, (1, 1))(x).astype(jnp.float32)
