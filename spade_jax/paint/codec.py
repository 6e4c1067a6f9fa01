"""PNG bytes ↔ class ids for the paint API, with the CLI's one-line errors.

An id PNG is single-channel (mode L / P / I / I;16: the values are the ids, 255 = don't-care, as
`eval.py --mode synthesize` reads label files); a colour PNG (RGB / RGBA) holds the classes' colours
exactly (`spade_jax.paint.classes`), and the first pixel of another colour is named in the error.
"""

from __future__ import annotations

import io
from typing import Optional

import numpy as np

from spade_jax.data.colors import pack

ID_MODES = ("L", "P", "I", "I;16")
COLOUR_MODES = ("RGB", "RGBA")


def open_image(data: bytes, what: str):
  """PIL image of `data` (loaded), or ValueError naming `what`."""
  from PIL import Image, UnidentifiedImageError
  if not data:
    raise ValueError(f"{what}: empty upload (send the PNG as the request body)")
  try:
    im = Image.open(io.BytesIO(data))
    im.load()
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise ValueError(f"{what}: not a readable image ({e})") from None
  return im


def _ids_from(im, what: str, dontcare_id: int) -> np.ndarray:
  if im.mode not in ID_MODES:
    raise ValueError(f"{what}: {im.mode} image where class ids are expected; send a single-channel PNG "
                     "of ids (POST /api/labels converts a colour PNG)")
  arr = np.asarray(im if im.mode in ("L", "P") else im.convert("I")).astype(np.int32)
  return np.where(arr == 255, dontcare_id, arr)


def read_ids(data: bytes, what: str, dontcare_id: int) -> np.ndarray:
  """A single-channel id PNG → int32 [H, W] (255 → `dontcare_id`, as label files are read)."""
  return _ids_from(open_image(data, what), what, dontcare_id)


def ids_from_colours(rgb: np.ndarray, colours: np.ndarray, what: str) -> np.ndarray:
  """uint8 [H, W, 3] → ids by exact colour; ValueError naming the first other colour and its pixel."""
  keys = pack(np.asarray(colours, np.uint8))
  order = np.argsort(keys)
  sorted_keys = keys[order]
  packed = pack(rgb)
  pos = np.clip(np.searchsorted(sorted_keys, packed), 0, len(sorted_keys) - 1)
  found = sorted_keys[pos] == packed
  if not found.all():
    y, x = np.unravel_index(int(np.argmin(found)), found.shape)
    r, g, b = (int(v) for v in rgb[y, x])
    raise ValueError(f"{what}: colour ({r}, {g}, {b}) at pixel (x={x}, y={y}) is not the colour of any "
                     f"class of this model (anti-aliased or resized? save the label map with exact "
                     f"colours, or as ids)")
  return order[pos].astype(np.int32)


def read_labels(data: bytes, what: str, colours: np.ndarray, dontcare_id: int) -> tuple[np.ndarray, str]:
  """An id PNG or a colour PNG → (int32 [H, W] ids, "ids" | "colours")."""
  im = open_image(data, what)
  if im.mode in COLOUR_MODES:
    rgba = np.asarray(im.convert("RGBA"))
    if (rgba[..., 3] != 255).any():
      y, x = np.unravel_index(int(np.argmax(rgba[..., 3] != 255)), rgba.shape[:2])
      raise ValueError(f"{what}: transparent pixel (x={x}, y={y}) (alpha {int(rgba[y, x, 3])}); "
                       "a colour label map must be opaque")
    return ids_from_colours(rgba[..., :3], colours, what), "colours"
  if im.mode in ID_MODES:
    return _ids_from(im, what, dontcare_id), "ids"
  raise ValueError(f"{what}: image mode {im.mode} is neither ids (L, P, I) nor colours (RGB, RGBA)")


def read_photo(data: bytes, what: str, hw: tuple[int, int]) -> np.ndarray:
  """A photo → uint8 [H, W, 3] at the model's size (RGB, bicubic, as `eval.py --style` reads it)."""
  from PIL import Image
  im = open_image(data, what).convert("RGB")
  return np.asarray(im.resize((hw[1], hw[0]), Image.BICUBIC), np.uint8)


def png(array: np.ndarray, compress_level: int = 1) -> bytes:
  """uint8 [H, W] (mode L) or [H, W, 3] (RGB) → PNG bytes."""
  from PIL import Image
  buf = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(array, np.uint8)).save(buf, format="PNG", compress_level=compress_level)
  return buf.getvalue()


def id_png(ids: np.ndarray, dontcare_id: Optional[int] = None) -> bytes:
  """int [H, W] ids → a mode-L PNG; the don't-care id is written as 255 (the dataset convention)."""
  ids = np.asarray(ids)
  if dontcare_id is not None:
    ids = np.where(ids == dontcare_id, 255, ids)
  if ids.size and (ids.min() < 0 or ids.max() > 255):
    raise ValueError(f"label ids {int(ids.min())}..{int(ids.max())} do not fit an 8-bit PNG")
  return png(ids.astype(np.uint8))
