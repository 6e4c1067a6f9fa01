"""Smooth random fields for the procedural landscapes: fractal value noise in 1-D and 2-D.

All functions take an explicit `np.random.Generator`, so a sample is a pure function of its seed.
2-D fields are windows of a larger tile generated once per process and field type from a fixed
seed (a window costs a copy; a fresh field costs several resizes), placed, mirrored and signed by
the caller's generator.
"""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image


def _upsample(grid: np.ndarray, h: int, w: int, smooth: bool = True) -> np.ndarray:
  """Upsampling of a small float grid to `[h, w]`: bicubic, or bilinear (faster) for fine grain."""
  method = Image.BICUBIC if smooth else Image.BILINEAR
  return np.asarray(Image.fromarray(grid.astype(np.float32), "F").resize((w, h), method))


_TILES: dict[tuple, np.ndarray] = {}


def fractal2d(rng: np.random.Generator, h: int, w: int, cells: tuple[float, float] = (4, 4),
              octaves: int = 4, persistence: float = 0.5, smooth: bool = True) -> np.ndarray:
  """Fractal value noise `[h, w]` in about [-1, 1]: octave k has `cells * 2**k` values per axis.

  `cells` = (rows, cols) of the coarsest octave; unequal values give anisotropic (stretched) texture.
  """
  key = (h, w, round(float(cells[0]), 3), round(float(cells[1]), 3), octaves, persistence, smooth)
  tile = _TILES.get(key)
  if tile is None:
    tile_rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    tile = _TILES[key] = _fractal(tile_rng, 2 * h, 2 * w, (2 * cells[0], 2 * cells[1]), octaves,
                                  persistence, smooth)
  y, x = int(rng.integers(0, h + 1)), int(rng.integers(0, w + 1))
  out = tile[y:y + h, x:x + w]
  if rng.random() < 0.5:
    out = out[:, ::-1]
  return out * np.float32(1 if rng.random() < 0.5 else -1)


def _fractal(rng, h, w, cells, octaves, persistence, smooth) -> np.ndarray:
  """A fresh fractal field: octaves summed on the finest octave's grid, upsampled once."""
  sizes = []
  for k in range(octaves):
    gh = min(h, max(2, int(round(cells[0] * 2 ** k)) + 1))
    gw = min(w, max(2, int(round(cells[1] * 2 ** k)) + 1))
    sizes.append((gh, gw))
  fh, fw = sizes[-1]
  out = np.zeros((fh, fw), np.float32)
  amp, total = 1.0, 0.0
  for gh, gw in sizes:
    grid = rng.uniform(-1.0, 1.0, (gh, gw))
    out += amp * (grid.astype(np.float32) if (gh, gw) == (fh, fw) else _upsample(grid, fh, fw))
    total += amp
    amp *= persistence
  return _upsample(out / total, h, w, smooth)


def fractal1d(rng: np.random.Generator, n: int, cells: int = 4, octaves: int = 5,
              persistence: float = 0.5) -> np.ndarray:
  """1-D fractal value noise of length `n` in about [-1, 1] (skylines, shorelines)."""
  x = np.linspace(0.0, 1.0, n)
  out = np.zeros(n, np.float64)
  amp, total = 1.0, 0.0
  for k in range(octaves):
    m = cells * 2 ** k + 1
    knots = rng.uniform(-1.0, 1.0, m)
    out += amp * np.interp(x, np.linspace(0.0, 1.0, m), knots)
    total += amp
    amp *= persistence
  return (out / total).astype(np.float32)
