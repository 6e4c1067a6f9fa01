"""The per-scale generator and critic of SinGAN (official `SinGAN/models.py`), NHWC.

Both nets: head `ConvBlock(nc_im -> nfc)`, body `block1..block(num_layer-2)` (block i+1 maps
max(2N, min_nfc) -> max(N, min_nfc), N = int(nfc / 2^(i+1))), then a tail conv. A ConvBlock is an
unpadded 3x3 conv with bias, BatchNorm (PyTorch semantics: batch statistics in training, running
statistics with momentum 0.1 and unbiased running variance otherwise; eps 1e-5) and LeakyReLU(0.2).
  * `Generator(x, y)`: `tanh(tail(...)) + y` cropped centrally by `int((y.H - out.H) / 2)` on every side
    (computed from the heights, applied to the widths too). The caller pads x and y by 5 with zeros, so
    an (h+10)-sized input gives an h-sized output.
  * `Critic(x)`: the tail conv maps to 1 channel without activation; an h x w image gives (h-10) x (w-10).

Replay of a stale graph (the official G steps 2..Gsteps under torch 1.4): every conv output is sown
into the `intermediates` collection as `pre`, every BatchNorm affine output as `post`; passing them
back as `replay` makes the forward return the recorded values at every layer while its gradient is
that of the current parameters applied to the recorded activations (conv input gradients use the current weights, weight gradients the recorded
inputs; BatchNorm uses the current gamma with the recorded statistics; LeakyReLU and Tanh their
recorded outputs).
"""

from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.models.singan.pyramid import net_widths
from spade_jax.nn.norms import Conv, ParamFreeNorm

PAD = 5  # (ker_size - 1) * num_layer / 2 for the official 3x3, 5 layers


def _replayed(z: jax.Array, old: Optional[jax.Array]) -> jax.Array:
  """z's gradient path with `old`'s value (identity when old is None)."""
  if old is None:
    return z
  return z - jax.lax.stop_gradient(z) + jax.lax.stop_gradient(old)


class ConvBlock(nn.Module):
  """Conv 3x3 (no padding) + BatchNorm2d(affine) + LeakyReLU(0.2); `num_batches_tracked` is kept."""
  features: int
  im2col: bool = False

  @nn.compact
  def __call__(self, x, train: bool, replay=None):
    old_pre, old_post = replay if replay is not None else (None, None)
    z = Conv(self.features, 3, padding=0, impl="matmul" if self.im2col else "auto", name="conv")(x)
    self.sow("intermediates", "pre", z)
    z = _replayed(z, old_pre)
    z = ParamFreeNorm("batch", name="norm")(z, train)
    count = self.variable("batch_stats", "num_batches_tracked", lambda: jnp.zeros((), jnp.int32))
    if train and not self.is_initializing():
      count.value = count.value + 1
    scale = self.param("scale", nn.initializers.ones, (self.features,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    y = z * scale + bias
    self.sow("intermediates", "post", y)
    return nn.leaky_relu(_replayed(y, old_post), 0.2)


class _Trunk(nn.Module):
  nfc: int
  min_nfc: int
  num_layer: int = 5
  im2col: bool = False

  @nn.compact
  def __call__(self, x, train: bool, replay: Optional[Sequence[jax.Array]] = None):
    r = list(replay) if replay is not None else [None] * self.num_layer
    x = ConvBlock(self.nfc, self.im2col, name="head")(x, train, r[0])
    for i, (_, out) in enumerate(net_widths(self.nfc, self.min_nfc, self.num_layer)):
      x = ConvBlock(out, self.im2col, name=f"block{i + 1}")(x, train, r[i + 1])
    return x, r[-1]


class Generator(nn.Module):
  """`GeneratorConcatSkip2CleanAdd`: `tanh(tail(body(head(x)))) + crop(y)`."""
  nfc: int = 32
  min_nfc: int = 32
  nc_im: int = 3
  num_layer: int = 5
  im2col: bool = False

  @nn.compact
  def __call__(self, x, y, train: bool = False, replay: Optional[Sequence[jax.Array]] = None):
    h, last = _Trunk(self.nfc, self.min_nfc, self.num_layer, self.im2col, name="trunk")(x, train, replay)
    z = Conv(self.nc_im, 3, padding=0, impl="matmul" if self.im2col else "auto", name="tail")(h)
    self.sow("intermediates", "pre", z)
    out = jnp.tanh(_replayed(z, last))
    ind = int((y.shape[1] - out.shape[1]) / 2)
    y = y[:, ind:y.shape[1] - ind, ind:y.shape[2] - ind, :]
    return out + y


class Critic(nn.Module):
  """`WDiscriminator`: head, body, 1-channel tail conv; maps are 10 smaller than the image.

  Its convs run as patches x matmul (`im2col`): the gradient penalty differentiates it twice, and XLA's
  CPU convolutions of convolution gradients are several times slower than matmuls (same numbers)."""
  nfc: int = 32
  min_nfc: int = 32
  num_layer: int = 5
  im2col: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    h, _ = _Trunk(self.nfc, self.min_nfc, self.num_layer, self.im2col, name="trunk")(x, train)
    return Conv(1, 3, padding=0, impl="matmul" if self.im2col else "auto", name="tail")(h)


def pad(x: jax.Array, p: int = PAD) -> jax.Array:
  """`nn.ZeroPad2d(p)` on NHWC."""
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def recorded(intermediates) -> list:
  """The sown values of one forward as `replay` input: (conv output, BN output) per block, then the tail
  conv output."""
  t = intermediates["trunk"]
  names = ["head"] + sorted((k for k in t if k != "head"), key=lambda k: int(k[len("block"):]))
  return [(t[k]["pre"][0], t[k]["post"][0]) for k in names] + [intermediates["pre"][0]]
