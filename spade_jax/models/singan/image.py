"""Reading the training photo and the manipulation inputs (paint, reference, mask) as the official
`functions.read_image`: RGB uint8, `/ 255`, float32, `(x - 0.5) * 2`; images are NHWC, batch 1.

Unlike the official code, a file that is not a plain RGB photo is refused with one line naming it:
unreadable, greyscale, or with an alpha channel.
"""

from __future__ import annotations

import os

import numpy as np

from spade_jax.models.singan.imresize import from_uint8_np, to_uint8_np


def read_uint8(path: str | os.PathLike, what: str = "image") -> np.ndarray:
  """The HWC uint8 RGB pixels of `path`; FileNotFoundError / ValueError with one line otherwise."""
  from PIL import Image, UnidentifiedImageError
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{what} {path}: no such file")
  try:
    with Image.open(path) as im:
      mode = im.mode
      im.load()
      arr = np.asarray(im)
  except (UnidentifiedImageError, OSError, SyntaxError) as e:
    raise ValueError(f"{what} {path}: cannot be read as an image ({e.__class__.__name__})") from None
  if mode in ("L", "1", "I", "I;16", "F", "LA", "P") and (arr.ndim == 2 or arr.shape[-1] < 3):
    if mode == "P":
      raise ValueError(f"{what} {path}: palette image; save it as RGB")
    raise ValueError(f"{what} {path}: greyscale ({mode}); an RGB image is needed")
  if mode in ("RGBA", "LA", "PA") or (arr.ndim == 3 and arr.shape[-1] == 4):
    raise ValueError(f"{what} {path}: has an alpha channel ({mode}); save it as RGB without alpha")
  if mode != "RGB" or arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
    raise ValueError(f"{what} {path}: mode {mode} is not 8-bit RGB")
  return arr


def uint8_to_image(u: np.ndarray) -> np.ndarray:
  """HWC uint8 -> NHWC float32 in [-1, 1] (the official `np2torch`)."""
  return from_uint8_np(np.asarray(u)[None])


def image_to_uint8(x) -> np.ndarray:
  """NHWC [-1, 1] -> HWC uint8 of batch row 0 (the official `torch2uint8`: truncation)."""
  return to_uint8_np(np.asarray(x))[0]


def read_image(path: str | os.PathLike, what: str = "image") -> np.ndarray:
  """The photo at `path` as NHWC float32 in [-1, 1], batch 1."""
  return uint8_to_image(read_uint8(path, what))


def save_image(path: str | os.PathLike, x) -> None:
  """Writes NHWC [-1, 1] (row 0) as an RGB PNG through the official truncating uint8 conversion."""
  from PIL import Image
  Image.fromarray(image_to_uint8(x)).save(os.fspath(path))


def synthetic_photo(h: int, w: int) -> np.ndarray:
  """A deterministic HWC uint8 test photo: smooth colour waves and a bright disc (no file needed)."""
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
  r = 128 + 90 * np.sin(xx / (0.14 * w)) * np.cos(yy / (0.27 * h))
  g = 120 + 80 * np.cos((xx + 2 * yy) / (0.27 * w))
  b = 110 + 70 * np.sin((3 * xx - yy) / (0.36 * w))
  img = np.stack([r, g, b], -1)
  img[((xx - w * 0.6) ** 2 + (yy - h * 0.4) ** 2) < (0.18 * min(h, w)) ** 2] = (230, 200, 60)
  return img.clip(0, 255).astype(np.uint8)


def read_photo_spec(spec: str, what: str = "data.image") -> np.ndarray:
  """`synthetic:HxW` (the built-in test photo) or a file path, as NHWC float32 in [-1, 1]."""
  if spec.startswith("synthetic:"):
    try:
      h, w = (int(v) for v in spec[len("synthetic:"):].split("x"))
    except ValueError:
      raise ValueError(f"{what}={spec!r}: expected synthetic:HxW (e.g. synthetic:48x64)") from None
    return uint8_to_image(synthetic_photo(h, w))
  if not spec:
    raise ValueError(f"{what} is empty: give the training photo (--config.{what}=PHOTO)")
  return read_image(spec, what)
