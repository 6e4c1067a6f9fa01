"""DeepLabV2 (dilated ResNet-101 + ASPP, output stride 8): the COCO-Stuff segmenter of the SPADE paper's
mIoU / accuracy numbers (the paper and NVlabs/SPADE issues; the repository ships no metric code), as in kazuto1011/deeplab-pytorch, whose published COCO-Stuff 164k
checkpoint (`deeplabv2_resnet101_msc-cocostuff164k-100000.pth`) `spade_jax.evaluate.nets.deeplab_convert`
loads.

Architecture (MSRA / Caffe ResNet flavour, all convs without bias, every BatchNorm frozen, eps 1e-5):
  * `layer1` (stem): conv 7×7 stride 2 pad 3 + BN + ReLU, then max-pool 3×3 stride 2 pad 1 with
    `ceil_mode=True` (PyTorch rule: a window that would start inside the right padding is dropped);
  * `layer2..layer5`: bottleneck layers of `n_blocks` blocks (256, 512, 1024, 2048 channels), stride 1, 2,
    1, 1 and dilation 1, 1, 2, 4. The stride sits on the first 1×1 conv (`reduce`), not on the 3×3; the
    3×3 (`conv3x3`) has padding = dilation; only the first block of a layer has a projection `shortcut`;
  * `aspp`: the sum of four 3×3 convs with bias, dilation = padding = 6, 12, 18, 24 → `num_classes` logits.

Test-time behaviour reproduced (the repository's `main.py test` / `demo.py` on an `MSC` model in eval
mode): the input is BGR, 0–255, minus the mean (B, G, R) = (104.008, 116.669, 122.675), no std division;
the multi-scale wrapper runs the network on the image and on copies bilinearly resized by 0.5 and 0.75
(`F.interpolate(scale_factor=s, align_corners=False)`, size ⌊H·s⌋), resizes those logits bilinearly to
the full-scale logits' size and takes the element-wise max; the result is resized bilinearly
(`align_corners=False`, i.e. half-pixel centres, no antialiasing) to the input size.

Our interface: `DeepLabV2(...).apply(variables, images)` with images `[B, H, W, 3]` RGB in [-1, 1] (the
generator's output convention) → float32 logits `[B, H, W, num_classes]`. The conversion to the original
input happens inside. `msc_scales=()` gives the single-scale network. Parameter tree: `params/base/...`
and `batch_stats/base/...`, following the checkpoint's `base.layer1.conv1.conv.weight` names.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

RESNET101_BLOCKS = (3, 4, 23, 3)
ATROUS_RATES = (6, 12, 18, 24)
MSC_SCALES = (0.5, 0.75)
MEAN_BGR = (104.008, 116.669, 122.675)
BN_EPS = 1e-5
# (output channels, stride, dilation) of layer2..layer5.
LAYERS = ((256, 1, 1), (512, 2, 1), (1024, 1, 2), (2048, 1, 4))
STEM_CHANNELS = 64
BOTTLENECK_EXPANSION = 4


# ------------------------------------------------------------------------------------------------
# PyTorch-exact resizing and pooling.


def _bilinear_matrix(in_size: int, out_size: int, scale: Optional[float]) -> np.ndarray:
  """`[out, in]` weights of PyTorch's bilinear `align_corners=False` along one axis.

  The source coordinate of output pixel i is (i + 0.5)·r − 0.5, clamped below at 0, where r = 1/scale
  when `F.interpolate` was given a `scale_factor` (PyTorch ≥ 1.6) and in/out when it was given a size;
  the upper neighbour is clamped to the last pixel.
  """
  r = 1.0 / scale if scale else in_size / out_size
  m = np.zeros((out_size, in_size), np.float64)
  for i in range(out_size):
    src = max((i + 0.5) * r - 0.5, 0.0)
    lo = min(int(src), in_size - 1)
    hi = lo + 1 if lo < in_size - 1 else lo
    frac = src - int(src)
    m[i, lo] += 1.0 - frac
    m[i, hi] += frac
  return m.astype(np.float32)


def resize_bilinear(x: jax.Array, size: tuple[int, int], scale: Optional[float] = None) -> jax.Array:
  """`F.interpolate(x, size or scale_factor, mode="bilinear", align_corners=False)` on NHWC."""
  h, w = x.shape[1:3]
  if (h, w) == tuple(size) and not scale:
    return x
  mh = jnp.asarray(_bilinear_matrix(h, size[0], scale), x.dtype)
  mw = jnp.asarray(_bilinear_matrix(w, size[1], scale), x.dtype)
  hp = jax.lax.Precision.HIGHEST
  x = jnp.einsum("oh,bhwc->bowc", mh, x, precision=hp)
  return jnp.einsum("pw,bowc->bopc", mw, x, precision=hp)


def _pool_out(size: int, k: int, s: int, p: int) -> int:
  """`nn.MaxPool2d(k, s, p, ceil_mode=True)` output length."""
  out = -(-(size + 2 * p - k) // s) + 1
  if (out - 1) * s >= size + p:  # the last window would start in the right padding
    out -= 1
  return out


def max_pool_ceil(x: jax.Array, k: int = 3, s: int = 2, p: int = 1) -> jax.Array:
  """`nn.MaxPool2d(k, s, p, ceil_mode=True)` on NHWC: −inf padding, extra right padding for ceil mode."""
  pads = []
  for size in x.shape[1:3]:
    out = _pool_out(size, k, s, p)
    pads.append((p, (out - 1) * s + k - size - p))
  return nn.max_pool(x, (k, k), (s, s), padding=pads)


def to_caffe_input(images: jax.Array) -> jax.Array:
  """[-1, 1] RGB → the original's input: 0–255 BGR minus the (B, G, R) mean."""
  x = (images + 1.0) * 127.5
  return x[..., ::-1] - jnp.asarray(MEAN_BGR, x.dtype)


# ------------------------------------------------------------------------------------------------
# The network.


class _ConvBN(nn.Module):
  """`_ConvBnReLU`: conv (no bias, PyTorch padding dilation·(k−1)/2) + frozen BN (+ ReLU)."""

  features: int
  kernel: int
  stride: int = 1
  dilation: int = 1
  relu: bool = True
  dtype: Any = None
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.dilation * (self.kernel - 1) // 2
    x = nn.Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride),
                padding=((p, p), (p, p)), kernel_dilation=(self.dilation, self.dilation), use_bias=False,
                dtype=self.dtype, precision=self.precision, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPS, dtype=self.dtype, name="bn")(x)
    return nn.relu(x) if self.relu else x


class _Bottleneck(nn.Module):
  features: int
  stride: int
  dilation: int
  downsample: bool
  dtype: Any = None
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kw = dict(dtype=self.dtype, precision=self.precision)
    mid = self.features // BOTTLENECK_EXPANSION
    h = _ConvBN(mid, 1, self.stride, name="reduce", **kw)(x)
    h = _ConvBN(mid, 3, 1, self.dilation, name="conv3x3", **kw)(h)
    h = _ConvBN(self.features, 1, relu=False, name="increase", **kw)(h)
    if self.downsample:
      x = _ConvBN(self.features, 1, self.stride, relu=False, name="shortcut", **kw)(x)
    return nn.relu(h + x)


class _ResLayer(nn.Module):
  n: int
  features: int
  stride: int
  dilation: int
  dtype: Any = None
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for j in range(self.n):
      x = _Bottleneck(self.features, self.stride if j == 0 else 1, self.dilation, j == 0, self.dtype,
                      self.precision, name=f"block{j + 1}")(x)
    return x


class _Stem(nn.Module):
  dtype: Any = None
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = _ConvBN(STEM_CHANNELS, 7, 2, dtype=self.dtype, precision=self.precision, name="conv1")(x)
    return max_pool_ceil(x)


class _ASPP(nn.Module):
  num_classes: int
  rates: Sequence[int]
  dtype: Any = None
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return sum(nn.Conv(self.num_classes, (3, 3), padding=((r, r), (r, r)), kernel_dilation=(r, r),
                       dtype=self.dtype, precision=self.precision, name=f"c{i}")(x)
               for i, r in enumerate(self.rates))


class DeepLabV2Base(nn.Module):
  """The single-scale network on the original's input (BGR, mean-subtracted) → logits at stride 8.

  Submodule names are the checkpoint's: `layer1.conv1.{conv,bn}`, `layer<k>.block<j>.{reduce, conv3x3,
  increase, shortcut}.{conv,bn}`, `aspp.c<i>`.
  """

  num_classes: int = 182
  n_blocks: Sequence[int] = RESNET101_BLOCKS
  atrous_rates: Sequence[int] = ATROUS_RATES
  dtype: Any = None
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = _Stem(self.dtype, self.precision, name="layer1")(x)
    for i, (n, (features, stride, dilation)) in enumerate(zip(self.n_blocks, LAYERS)):
      x = _ResLayer(n, features, stride, dilation, self.dtype, self.precision, name=f"layer{i + 2}")(x)
    return _ASPP(self.num_classes, tuple(self.atrous_rates), self.dtype, self.precision, name="aspp")(x)


class DeepLabV2(nn.Module):
  """Images `[B, H, W, 3]` RGB in [-1, 1] → logits `[B, H, W, num_classes]` (float32), as the original
  evaluates an MSC-wrapped DeepLabV2 (see the module docstring). `msc_scales=()`: single scale.
  `dtype` / `precision`: of the convs (None: float32 at JAX's default precision; resizes are always
  float32 at HIGHEST precision)."""

  num_classes: int = 182
  n_blocks: Sequence[int] = RESNET101_BLOCKS
  atrous_rates: Sequence[int] = ATROUS_RATES
  msc_scales: Sequence[float] = MSC_SCALES
  dtype: Any = None
  precision: Any = None

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    base = DeepLabV2Base(self.num_classes, tuple(self.n_blocks), tuple(self.atrous_rates), self.dtype,
                         self.precision, name="base")
    compute = self.dtype or jnp.float32
    x = to_caffe_input(images.astype(jnp.float32))
    h, w = x.shape[1:3]
    logits = base(x.astype(compute)).astype(jnp.float32)
    for s in self.msc_scales:
      xs = resize_bilinear(x, (int(math.floor(h * s)), int(math.floor(w * s))), scale=s)
      ls = base(xs.astype(compute)).astype(jnp.float32)
      logits = jnp.maximum(logits, resize_bilinear(ls, logits.shape[1:3]))
    return resize_bilinear(logits, (h, w))
