"""Reading image files: photos (→ RGB), id maps (labels, instances) and their failure causes.

Everything that touches file bytes goes through here, so the builders, the pipeline and `inspect`
decode exactly alike (NVlabs/SPADE `data/pix2pix_dataset.py`: `__getitem__`: photos `convert('RGB')`; 8-bit and palette labels give their pixel
values / palette indices; 16-bit instance maps keep their raw integer ids).
"""

from __future__ import annotations

import io
import os
from typing import Union

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
ID_MODES = ("L", "I", "I;16", "I;16B", "I;16L", "I;16N")  # single-channel integer maps
Image.MAX_IMAGE_PIXELS = None  # large photos are legitimate (Cityscapes is 2048x1024)

Source = Union[str, bytes, os.PathLike]


class DecodeError(Exception):
  """A file that is not a readable image; `str()` is the cause, without the path."""


def is_image_name(path: str) -> bool:
  return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def open_image(src: Source) -> Image.Image:
  """Opens and fully decodes an image (so truncation is detected here, not later)."""
  try:
    img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
    img.load()
    return img
  except FileNotFoundError:
    raise DecodeError("file not found") from None
  except (PermissionError, IsADirectoryError) as e:
    raise DecodeError(f"cannot read file ({e.strerror})") from None
  except Image.UnidentifiedImageError:
    raise DecodeError("not a readable image (unknown or corrupt format)") from None
  except (OSError, SyntaxError, ValueError, EOFError) as e:
    raise DecodeError(f"truncated or corrupt image ({e})") from None


def rgb_array(img: Image.Image) -> np.ndarray:
  """uint8 `[H, W, 3]`."""
  return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))


def id_array(img: Image.Image) -> np.ndarray:
  """Integer ids `[H, W]` of a single-channel or palette image (uint8, or int32 for wider modes)."""
  if img.mode in ("L", "P"):
    return np.asarray(img)
  if img.mode in ID_MODES:
    return np.asarray(img).astype(np.int32)
  raise DecodeError(f"mode {img.mode} is not an id map")


def encode_png(ids: np.ndarray) -> bytes:
  """Lossless PNG of an id map: 8-bit when ids fit, else 16-bit."""
  arr = ids.astype(np.uint8) if ids.max(initial=0) < 256 else ids.astype(np.uint16)
  buf = io.BytesIO()
  Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


def encode_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=0)
  return buf.getvalue()
