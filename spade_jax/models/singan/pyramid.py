"""The image pyramid and per-scale widths, as the official `functions.adjust_scales2image`,
`functions.creat_reals_pyramid` and `training.train` compute them.

For an H x W image, `sf0 = scale_factor_init`:
  * `num_scales = ceil(log(min_size / min(H, W)) / log(sf0)) + 1`;
  * `stop_scale = num_scales - ceil(log(min(max_size, max(H, W)) / max(H, W)) / log(sf0))`;
  * `scale1 = min(max_size / max(H, W), 1)` and `real = imresize(image, scale1)` (also at 1: the uint8
    round trip);
  * the adjusted factor `scale_factor = (min_size / min(real.H, real.W)) ** (1 / stop_scale)`;
  * `reals[i] = imresize(real, scale_factor ** (stop_scale - i))`, each level resized from `real`.
Per-scale widths: `nfc = min(nfc_init * 2 ** floor(n / 4), 128)`, the same rule for `min_nfc`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Tuple

import numpy as np

from spade_jax.models.singan import imresize as _imr

MAX_WIDTH = 128


@dataclasses.dataclass(frozen=True)
class PyramidPlan:
  """Numbers of one image's pyramid: `shapes[n]` is (H, W) of scale n (0 = coarsest)."""
  num_scales: int
  stop_scale: int
  scale1: float
  scale_factor: float
  real_shape: Tuple[int, int]
  shapes: Tuple[Tuple[int, int], ...]

  def scale_of(self, n: int) -> float:
    """The factor from the scale1 image down to level n."""
    return math.pow(self.scale_factor, self.stop_scale - n)


def plan_pyramid(h: int, w: int, min_size: int = 25, max_size: int = 250,
                 scale_factor_init: float = 0.75, what: str = "the image") -> PyramidPlan:
  """The official pyramid numbers for an h x w image; ValueError when it is too small for min_size."""
  if min(h, w) <= min_size:
    raise ValueError(f"{what} is {h}x{w}: its shorter side must exceed min_size={min_size}")
  num_scales = math.ceil(math.log(math.pow(min_size / min(h, w), 1), scale_factor_init)) + 1
  scale2stop = math.ceil(math.log(min(max_size, max(h, w)) / max(h, w), scale_factor_init))
  stop_scale = num_scales - scale2stop
  scale1 = min(max_size / max(h, w), 1)
  real_shape = _imr.resized_shape((h, w), scale1)
  if stop_scale < 1 or min(real_shape) <= min_size:
    raise ValueError(f"{what} is {h}x{w} ({real_shape[0]}x{real_shape[1]} after max_size={max_size}): "
                     f"too small for min_size={min_size} (needs at least two scales)")
  scale_factor = math.pow(min_size / min(real_shape), 1 / stop_scale)
  shapes = tuple(_imr.resized_shape(real_shape, math.pow(scale_factor, stop_scale - i))
                 for i in range(stop_scale + 1))
  return PyramidPlan(num_scales, stop_scale, scale1, scale_factor, tuple(real_shape), shapes)


def build_reals(image: np.ndarray, plan: PyramidPlan) -> Tuple[np.ndarray, List[np.ndarray]]:
  """(real, reals): the scale1 image and the pyramid (NHWC float32 in [-1, 1]) of `image` (NHWC)."""
  real = _imr.imresize_np(image, plan.scale1)
  reals = [_imr.imresize_np(real, plan.scale_of(i)) for i in range(plan.stop_scale + 1)]
  for i, r in enumerate(reals):
    assert r.shape[1:3] == plan.shapes[i], (r.shape, plan.shapes[i])
  return real, reals


def widths(n: int, nfc: int = 32, min_nfc: int = 32) -> Tuple[int, int]:
  """(nfc, min_nfc) of scale n."""
  k = 2 ** (n // 4)
  return min(nfc * k, MAX_WIDTH), min(min_nfc * k, MAX_WIDTH)


def continues_from_previous(n: int, nfc: int = 32, min_nfc: int = 32) -> bool:
  """Whether scale n starts from scale n-1's trained nets (its nfc equals the previous one's)."""
  return n > 0 and widths(n, nfc, min_nfc)[0] == widths(n - 1, nfc, min_nfc)[0]


def net_widths(nfc: int, min_nfc: int, num_layer: int = 5) -> List[Tuple[int, int]]:
  """(in, out) channels of the body blocks: block i+1 maps max(2N, min_nfc) -> max(N, min_nfc),
  N = int(nfc / 2 ** (i + 1))."""
  out = []
  for i in range(num_layer - 2):
    n = int(nfc / 2 ** (i + 1))
    out.append((max(2 * n, min_nfc), max(n, min_nfc)))
  return out
