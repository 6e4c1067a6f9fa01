"""Geometry and value transforms of one sample, exactly as the official loader (NVlabs/SPADE `data/base_dataset.py`: `get_params`, `get_transform`; NVlabs/SPADE `data/pix2pix_dataset.py`: `__getitem__`).

One parameter set (crop origin, flip) is drawn from the *label* size and applied to photo, label
and instance map alike. Photos are resized bicubic (official default; bilinear selectable), label
and instance maps nearest, with PIL as the official code. Photos end in [-1, 1]; label pixels equal
to 255 become `label_nc` (the don't-care id).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from PIL import Image

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop",
                    "scale_shortside", "scale_shortside_and_crop", "fixed", "none")
_METHODS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}
DONTCARE_RAW_ID = 255


@dataclasses.dataclass(frozen=True)
class Geometry:
  preprocess_mode: str = "resize_and_crop"
  load_size: int = 286
  crop_size: int = 256
  aspect_ratio: float = 1.0
  image_method: str = "bicubic"  # photos; label and instance maps are always nearest

  def __post_init__(self):
    if self.preprocess_mode not in PREPROCESS_MODES:
      raise ValueError(f"preprocess_mode {self.preprocess_mode!r} is not one of {PREPROCESS_MODES}")
    if self.image_method not in ("bicubic", "bilinear"):
      raise ValueError(f"image_method {self.image_method!r} is not bicubic or bilinear")


@dataclasses.dataclass(frozen=True)
class Params:
  crop_x: int = 0
  crop_y: int = 0
  flip: bool = False


def scaled_size(geo: Geometry, w: int, h: int) -> tuple[int, int]:
  """Size after the scaling step, as used for the crop range (official `get_params`)."""
  mode, load = geo.preprocess_mode, geo.load_size
  if mode == "resize_and_crop":
    return load, load
  if mode == "scale_width_and_crop":
    return load, load * h // w
  if mode == "scale_shortside_and_crop":
    ss, ls = min(w, h), max(w, h)
    ls = int(load * ls / ss)
    return (load, ls) if w == ss else (ls, load)
  return w, h


def draw_params(geo: Geometry, w: int, h: int, rng: Optional[np.random.Generator],
                flip: bool) -> Params:
  """Random crop origin and flip (training); without `rng`, the centred crop and no flip."""
  nw, nh = scaled_size(geo, w, h)
  mx, my = max(0, nw - geo.crop_size), max(0, nh - geo.crop_size)
  if rng is None:
    return Params(mx // 2, my // 2, False)
  x, y = int(rng.integers(0, mx + 1)), int(rng.integers(0, my + 1))
  return Params(x, y, bool(flip and rng.random() > 0.5))


def _resize(arr: np.ndarray, w: int, h: int, method: str) -> np.ndarray:
  if arr.shape[1] == w and arr.shape[0] == h:
    return arr
  return np.asarray(Image.fromarray(arr).resize((w, h), _METHODS[method]))


def _crop(arr: np.ndarray, x: int, y: int, size: int) -> np.ndarray:
  """A `size x size` crop at (x, y); like PIL's crop, area outside the image is zero."""
  h, w = arr.shape[:2]
  if x == 0 and y == 0 and h == size and w == size:
    return arr
  out = np.zeros((size, size) + arr.shape[2:], arr.dtype)
  src = arr[y:y + size, x:x + size]
  out[:src.shape[0], :src.shape[1]] = src
  return out


def apply(geo: Geometry, arr: np.ndarray, params: Params, method: str) -> np.ndarray:
  """The official transform chain on a `[H, W(, C)]` array (uint8 photo, uint8/int32 id map)."""
  h, w = arr.shape[:2]
  mode, load = geo.preprocess_mode, geo.load_size
  if "resize" in mode:
    arr = _resize(arr, load, load, method)
  elif "scale_width" in mode:
    if w != load:
      arr = _resize(arr, load, int(load * h / w), method)
  elif "scale_shortside" in mode:
    ss, ls = min(w, h), max(w, h)
    if ss != load:
      ls = int(load * ls / ss)
      arr = _resize(arr, *((load, ls) if w == ss else (ls, load)), method)
  if "crop" in mode:
    arr = _crop(arr, params.crop_x, params.crop_y, geo.crop_size)
  if mode == "none":
    nh, nw = int(round(h / 32) * 32), int(round(w / 32) * 32)
    arr = _resize(arr, nw, nh, method)
  if mode == "fixed":
    arr = _resize(arr, geo.crop_size, int(round(geo.crop_size / geo.aspect_ratio)), method)
  if params.flip:
    arr = arr[:, ::-1]
  return np.ascontiguousarray(arr)


def output_size(geo: Geometry) -> Optional[tuple[int, int]]:
  """(height, width) of every transformed sample, or None when it depends on the input size."""
  if "crop" in geo.preprocess_mode:
    return geo.crop_size, geo.crop_size
  if geo.preprocess_mode == "fixed":
    return int(round(geo.crop_size / geo.aspect_ratio)), geo.crop_size
  return None


def normalize_image(rgb: np.ndarray) -> np.ndarray:
  """uint8 → float32 in [-1, 1] (ToTensor then Normalize(0.5, 0.5), in that order)."""
  return (rgb.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)


def map_dontcare(label: np.ndarray, label_nc: int) -> np.ndarray:
  """int32 ids with every 255 replaced by `label_nc` (the official don't-care mapping)."""
  out = label.astype(np.int32)
  out[out == DONTCARE_RAW_ID] = label_nc
  return out


def transform_sample(geo: Geometry, image: np.ndarray, label: np.ndarray,
                     instance: Optional[np.ndarray], params: Params) -> dict:
  """Photo uint8 `[H, W, 3]`, label and instance id maps → transformed arrays (not normalized)."""
  out = {"image": apply(geo, image, params, geo.image_method),
         "label": apply(geo, label, params, "nearest")}
  if instance is not None:
    out["instance"] = apply(geo, instance, params, "nearest")
  return out
