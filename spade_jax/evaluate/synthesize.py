"""Synthesis API: a family's inputs (label map, instance map, style photo, z, …) → images; label PNG
reading with validation.

    images = generate(family, variables, {"label": ids, "instance": inst}, rng=jax.random.key(0))
    images = generate(family, variables, {"label": ids, "style_image": photo}, rng=key)   # style-guided
    images = generate(family, variables, {"label": ids, "z": z})                          # given codes
    batch  = generate_multimodal(family, variables, inputs, num_samples=3, rng=key)        # [K, B, H, W, 3]

What a family accepts is its `input_spec()`; inputs are validated on the host first (one-line errors
naming the input). `label` holds integer ids `[B, H, W]` in dataset ids with don't-care already
`label_nc`; images come back as float32 `[B, H, W, 3]` in [-1, 1] (`to_uint8` converts as the official
`tensor2im`).
"""

from __future__ import annotations

import functools
import os
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np


@functools.partial(jax.jit, static_argnums=(0,))
def _generate(family, variables, inputs, rng):
  return family.generate(variables, inputs, rng)


def generate(family, variables: dict, inputs: dict, *, rng: Optional[jax.Array] = None) -> jax.Array:
  """Eval-mode generation from validated inputs (see the module docstring)."""
  checked = family.check_inputs(inputs)
  arrays = {k: jnp.asarray(v, jnp.int32 if np.issubdtype(v.dtype, np.integer) else jnp.float32)
            for k, v in checked.items()}
  return _generate(family, variables, arrays, rng)


def generate_multimodal(family, variables: dict, inputs: dict, *, num_samples: int, rng: jax.Array) -> jax.Array:
  """K samples per label map from independent draws → `[K, B, H, W, 3]`."""
  keys = jax.random.split(rng, num_samples)
  return jnp.stack([generate(family, variables, inputs, rng=k) for k in keys])


def to_uint8(images) -> np.ndarray:
  """[-1, 1] floats → uint8 as the official `tensor2im`: (x + 1) / 2 · 255, clipped, truncated."""
  return np.clip((np.asarray(images, np.float32) + 1) / 2 * 255, 0, 255).astype(np.uint8)


def read_label_png(path, label_nc: int, what: Optional[str] = None) -> np.ndarray:
  """One label PNG of class ids (mode L / P / I) → int32 [H, W]; 255 → label_nc (don't-care).

  `path`: a file name, or the PNG's bytes / a binary file object (then `what` names it in messages)."""
  import io
  from PIL import Image, UnidentifiedImageError
  if isinstance(path, (bytes, bytearray)):
    source, what = io.BytesIO(path), what or "label PNG"
  elif hasattr(path, "read"):
    source, what = path, what or "label PNG"
  else:
    if not os.path.isfile(path):
      raise FileNotFoundError(f"{path}: label file not found")
    source, what = path, what or str(path)
  try:
    with Image.open(source) as im:
      mode = im.mode
      if mode in ("RGB", "RGBA"):
        raise ValueError(f"{what}: RGB label image where class ids are expected (mode {mode}); save the "
                         "ids as a single-channel PNG")
      arr = np.asarray(im.convert("I") if mode not in ("L", "P") else im).astype(np.int32)
  except (UnidentifiedImageError, OSError) as e:
    raise ValueError(f"{what}: unreadable image ({e})") from None
  return np.where(arr == 255, label_nc, arr)


def list_label_files(path: str) -> list[str]:
  """A PNG file, or every PNG in a directory (sorted)."""
  if os.path.isdir(path):
    files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".png"))
    if not files:
      raise FileNotFoundError(f"{path}: no .png label files in this directory")
    return files
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such label file or directory")
  return [path]


def safe_stem(name: str) -> str:
  """An output file stem from an input name: its base name without extension, with runs of whitespace
  as `_` (file names without spaces are easy to type and to pass to other tools)."""
  import re
  stem = os.path.splitext(os.path.basename(str(name)))[0]
  return re.sub(r"\s+", "_", stem.strip())


def save_pngs(images: np.ndarray, paths: Sequence[str]) -> None:
  from PIL import Image
  for img, p in zip(to_uint8(images), paths):
    os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
    Image.fromarray(img).save(p)
