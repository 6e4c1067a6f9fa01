"""Manipulations on a trained pyramid: the injection of an image at a scale (paint2image,
harmonization, editing), the mask dilation, super-resolution and animation, as the official
`paint2image.py`, `harmonization.py`, `editing.py`, `SR.py`, `functions.dilate_mask`,
`functions.calc_init_scale` and `manipulate.generate_gif` compute them.

Injection at scale n (1 <= n <= N, N the finest index): the reference (resized by `imresize_to_shape`
to the scale1 image when its width differs) is shrunk by `scale_factor^(N-n+1)`, cropped to scale n-1,
upsampled by `1/scale_factor` (as a coarser generator's output would be) and cropped to scale n; the
generators n..N then run from it with 3-channel noise.
"""

from __future__ import annotations

import math
import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.models.singan.config import Layout
from spade_jax.models.singan.generate import check_start_scale
from spade_jax.models.singan.imresize import imresize_np, to_uint8_np


def match_reference(ref: np.ndarray, real: np.ndarray) -> np.ndarray:
  """The reference at the scale1 image's size (official: resized only when the widths differ)."""
  h, w = real.shape[1:3]
  if ref.shape[2] != w:
    ref = imresize_np(ref, output_shape=(h, w))[:, :h, :w]
  return ref


def check_reference(ref: np.ndarray, real: np.ndarray, what: str) -> None:
  """The official code only resizes when widths differ; a reference of another height then breaks."""
  h, w = real.shape[1:3]
  if ref.shape[2] == w and ref.shape[1] != h:
    raise ValueError(f"{what} is {ref.shape[1]}x{ref.shape[2]}: it needs the training photo's aspect ratio "
                     f"({h}x{w} at the trained size)")
  rh, rw = ref.shape[1:3]
  if abs(rh / rw - h / w) > 0.05 * h / w:
    raise ValueError(f"{what} is {rh}x{rw}: its aspect ratio differs from the training photo's ({h}x{w})")


def inject(layout: Layout, ref: np.ndarray, n: int) -> np.ndarray:
  """The injected image `in_s` at scale n from the reference at the scale1 size (numpy, exact)."""
  check_start_scale(n, layout.num_scales)
  big_n = layout.num_scales - 1
  sf = layout.scale_factor
  h0, w0 = layout.shapes[n - 1]
  h1, w1 = layout.shapes[n]
  in_s = imresize_np(ref, math.pow(sf, big_n - n + 1))[:, :h0, :w0]
  return imresize_np(in_s, 1 / sf)[:, :h1, :w1]


def _disk(radius: int) -> np.ndarray:
  y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
  return (x * x + y * y) <= radius * radius


def dilate_mask(mask: np.ndarray, radius: int) -> np.ndarray:
  """The official `dilate_mask`: channel 0 of the truncating uint8 form, binary dilation by a disk,
  Gaussian blur (sigma 5, nearest edges, truncate 4), mapped to [-1, 1], min-max normalised to [0, 1];
  NHWC with 3 equal channels. `radius`: 7 for harmonization, 20 for editing."""
  from scipy import ndimage
  m = to_uint8_np(mask)[0, :, :, 0] != 0
  m = ndimage.binary_dilation(m, structure=_disk(radius))
  m = ndimage.gaussian_filter(m.astype(np.float64), sigma=5, mode="nearest", truncate=4.0)
  m = np.clip((m.astype(np.float32) - np.float32(0.5)) * np.float32(2), -1, 1)
  lo, hi = m.min(), m.max()
  if hi == lo:
    raise ValueError("--mask: it is empty (no pixel is set)" if hi <= -1 else
                     f"--mask: dilated by a disk of radius {radius} it covers the whole {m.shape[0]}x{m.shape[1]} "
                     "image; use a smaller mask or --radius")
  m = (m - lo) / (hi - lo)
  return np.broadcast_to(m[None, :, :, None], (1,) + m.shape + (3,)).astype(np.float32)


def blend(real, out, mask):
  """`(1 - mask) * real + mask * out`."""
  return (1 - mask) * real + mask * out


def sr_plan(sr_factor: float) -> tuple:
  """(in_scale, iter_num) of the official `calc_init_scale`: steps of about 2^(1/3)."""
  in_scale = math.pow(1 / 2, 1 / 3)
  iter_num = round(math.log(1 / sr_factor, in_scale))
  if iter_num < 1:
    raise ValueError(f"--factor={sr_factor}: super-resolution needs a factor of at least 2^(1/6) (about 1.13)")
  in_scale = math.pow(sr_factor, 1 / iter_num)
  return in_scale, iter_num


def sr_reals(finest: np.ndarray, in_scale: float, iter_num: int) -> list:
  """The successive upsamplings `imresize(previous, in_scale)` of the finest real."""
  out, cur = [], finest
  for _ in range(iter_num):
    cur = imresize_np(cur, in_scale)
    out.append(cur)
  return out


def gif_noise_walk(Z: jax.Array, noises: jax.Array, z_first: jax.Array, alpha: float, beta: float) -> jax.Array:
  """The official animation's second-order random walk around `Z` (padded) over the frames.

  `noises`: (frames, ...) per-frame noise; `z_first`: the noise of the initial `z1 = 0.95 Z + 0.05 z`.
  Frame: `d = beta (z1 - z2) + (1 - beta) noise`, `z = alpha Z + (1 - alpha)(z1 + d)`, `z2, z1 = z1, z`."""
  def step(c, nz):
    z1, z2 = c
    d = beta * (z1 - z2) + (1 - beta) * nz
    z = alpha * Z + (1 - alpha) * (z1 + d)
    return (z, z1), z
  _, zs = jax.lax.scan(step, (0.95 * Z + 0.05 * z_first, Z), noises)
  return zs


def frames_to_uint8(frames) -> np.ndarray:
  """(F, H, W, 3) in [-1, 1] to uint8 as the official animation does (`denorm * 255`, truncation)."""
  return to_uint8_np(np.asarray(frames))

