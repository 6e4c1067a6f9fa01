"""MATLAB-style bicubic resize as the official SinGAN uses it (`SinGAN/imresize.py`, after A. Shocher).

Every call goes through the official uint8 round trip:
  1. `to_uint8`: `255 * clamp((x + 1) / 2, 0, 1)` in float32, cast to uint8 by **truncation**;
  2. a separable resize of the uint8 image in float64 (cubic kernel, Keys a = -0.5, support 4;
     antialiased `s * k(s * x)` with support `4 / s` in every resized dimension when the *row* scale is
     below 1; output size `ceil(in * scale)`; output pixel p (1-based) reads input coordinate
     `p / s + 0.5 * (1 - 1 / s)` through `ceil(support) + 2` taps starting at `floor(c - support / 2)`);
  3. `/ 255` in float64, float32, `(x - 0.5) * 2` clamped to [-1, 1].

Borders are asymmetric, as in the official code on x86-64: taps before the start get zero weight (the
others are renormalised), taps past the end are mirrored with the edge pixel repeated. Dimensions
with scale exactly 1 are skipped, so a scale-1 call is the bare round trip.

Two implementations with one set of weights: `imresize_np` (numpy float64, the official numbers) and
`imresize` (JAX, float32 matrices; usable under `jit`, shapes static). Images are NHWC, batch 1 or more.
"""

from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

KERNEL_WIDTH = 4.0


def _cubic(x: np.ndarray) -> np.ndarray:
  ax = np.abs(x)
  ax2, ax3 = ax**2, ax**3
  return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) +
          (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((1 < ax) & (ax <= 2)))


def output_size(in_size: int, scale: float) -> int:
  """`ceil(in * scale)` in float64, as the official `fix_scale_and_size`."""
  return int(np.ceil(np.float64(in_size) * np.float64(scale)))


@functools.lru_cache(maxsize=512)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
  """The (out_len, in_len) float64 matrix of one dimension's resize (the official `contributions`)."""
  if antialias:
    def kernel(t):
      return scale * _cubic(scale * t)
    width = KERNEL_WIDTH / scale
  else:
    kernel, width = _cubic, KERNEL_WIDTH
  out = np.arange(1, out_len + 1, dtype=np.float64)
  centre = out / scale + 0.5 * (1 - 1.0 / scale)
  left = np.floor(centre - width / 2)
  taps = left[:, None] + np.arange(np.ceil(width) + 2) - 1  # 0-based tap positions (may be < 0)
  # Taps before the start: the official cast to unsigned wraps them to huge values, whose weight is 0.
  weights = np.where(taps < 0, 0.0, kernel(centre[:, None] - taps - 1))
  total = weights.sum(axis=1)
  total[total == 0] = 1.0
  weights = weights / total[:, None]
  # Taps past the end are mirrored: n, n+1, ... read n-1, n-2, ...
  mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
  idx = mirror[np.mod(np.where(taps < 0, 0, taps).astype(np.int64), 2 * in_len)]
  mat = np.zeros((out_len, in_len), np.float64)
  np.add.at(mat, (np.repeat(np.arange(out_len), taps.shape[1]), idx.ravel()), weights.ravel())
  return mat


def _plan(shape_hw: Sequence[int], scale: Optional[float], out_hw: Optional[Sequence[int]]):
  """[(axis, matrix)] for rows and columns, in the official order (ascending scale), skipping scale 1."""
  h, w = int(shape_hw[0]), int(shape_hw[1])
  if (scale is None) == (out_hw is None):
    raise ValueError("imresize: give exactly one of scale and output shape")
  if out_hw is None:
    scales = [float(scale), float(scale)]
    sizes = [output_size(h, scale), output_size(w, scale)]
  else:
    sizes = [int(out_hw[0]), int(out_hw[1])]
    scales = [sizes[0] / h, sizes[1] / w]
  if min(sizes) < 1:
    raise ValueError(f"imresize: output size {sizes} of {h}x{w} at scale {scale} is empty")
  antialias = scales[0] < 1
  order = np.argsort(np.array(scales + [1.0]), kind="stable")
  plan = []
  for axis in order:
    if axis == 2 or scales[axis] == 1.0:
      continue
    plan.append((int(axis), resize_matrix((h, w)[axis], sizes[axis], scales[axis], antialias)))
  return plan, tuple(sizes)


def to_uint8_np(x: np.ndarray) -> np.ndarray:
  """The official `torch2uint8` (float32 arithmetic, truncating cast) on NHWC [-1, 1] images."""
  x = np.asarray(x, np.float32)
  d = np.clip((x + np.float32(1)) / np.float32(2), 0, 1)
  return (np.float32(255) * d).astype(np.uint8)


def from_uint8_np(u: np.ndarray) -> np.ndarray:
  """The official `np2torch`: `/ 255` in float64, float32, `(x - 0.5) * 2` clamped to [-1, 1]."""
  x = (np.asarray(u, np.float64) / 255).astype(np.float32)
  return np.clip((x - np.float32(0.5)) * np.float32(2), -1, 1).astype(np.float32)


def imresize_np(x: np.ndarray, scale: Optional[float] = None,
                output_shape: Optional[Sequence[int]] = None) -> np.ndarray:
  """The official `imresize` / `imresize_to_shape` on NHWC float32 images in [-1, 1] (numpy float64)."""
  x = np.asarray(x)
  plan, _ = _plan(x.shape[1:3], scale, output_shape)
  y = to_uint8_np(x).astype(np.float64)
  for axis, mat in plan:
    y = np.moveaxis(np.tensordot(mat, y, axes=([1], [axis + 1])), 0, axis + 1)
  return from_uint8_np(y)


def to_uint8(x: jax.Array) -> jax.Array:
  """`to_uint8_np` in JAX, as float32 values 0..255 (integers)."""
  d = jnp.clip((x.astype(jnp.float32) + 1) / 2, 0, 1)
  return jnp.floor(jnp.float32(255) * d)


def from_uint8(v: jax.Array) -> jax.Array:
  """`from_uint8_np` in JAX (float32: differs from the float64 `/ 255` by at most one float32 ulp)."""
  return jnp.clip((v / jnp.float32(255) - 0.5) * 2, -1, 1)


def imresize(x: jax.Array, scale: Optional[float] = None,
             output_shape: Optional[Sequence[int]] = None) -> jax.Array:
  """The official `imresize` / `imresize_to_shape` on NHWC images, in JAX (float32)."""
  plan, _ = _plan(x.shape[1:3], scale, output_shape)
  y = to_uint8(x)
  for axis, mat in plan:
    m = jnp.asarray(mat, jnp.float32)
    if axis == 0:
      y = jnp.einsum("oh,bhwc->bowc", m, y, precision=jax.lax.Precision.HIGHEST)
    else:
      y = jnp.einsum("ow,bhwc->bhoc", m, y, precision=jax.lax.Precision.HIGHEST)
  return from_uint8(y)


def resized_shape(hw: Sequence[int], scale: float) -> tuple[int, int]:
  """The (H, W) an `imresize(x, scale)` call returns."""
  return output_size(hw[0], scale), output_size(hw[1], scale)

