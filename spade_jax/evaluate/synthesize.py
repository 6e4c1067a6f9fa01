"""Synthesis API: label maps (+ style image / z / rng) → images; label PNG reading with validation.

    images = generate(model, variables, labels, rng=jax.random.key(0))            # random z (VAE)
    images = generate(model, variables, labels, style_image=img, rng=key)        # style-guided
    images = generate(model, variables, labels, z=z)                             # given codes
    batch  = generate_multimodal(model, variables, labels, num_samples=3, rng=key)  # [K, B, H, W, 3]

`labels` are integer ids `[B, H, W]` in dataset ids with don't-care already `label_nc`; images come
back as float32 `[B, H, W, 3]` in [-1, 1] (`to_uint8` converts as the official `tensor2im`).
"""

from __future__ import annotations

import functools
import os
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.models.spade import SPADEModel


def check_labels(model: SPADEModel, labels: np.ndarray, what: str = "labels") -> None:
  d = model.config.data
  n_ids = d.label_nc + int(bool(d.contain_dontcare_label))
  if labels.ndim != 3:
    raise ValueError(f"{what}: expected integer ids [B, H, W], got shape {labels.shape}")
  if not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{what}: expected integer class ids, got dtype {labels.dtype}")
  if labels.shape[1:] != model.image_hw:
    raise ValueError(f"{what}: size {labels.shape[1]}x{labels.shape[2]} (HxW) does not match the model's "
                     f"{model.image_hw[0]}x{model.image_hw[1]} (crop_size {d.crop_size}, aspect_ratio "
                     f"{d.aspect_ratio})")
  hi = int(labels.max(initial=0))
  if labels.size and (hi >= n_ids or int(labels.min()) < 0):
    raise ValueError(f"{what}: label id {hi if hi >= n_ids else int(labels.min())} is outside 0..{n_ids - 1} "
                     f"(label_nc={d.label_nc}, contain_dontcare_label={d.contain_dontcare_label})")


@functools.partial(jax.jit, static_argnums=(0,))
def _generate(model, variables, labels, instance, z, style_image, rng):
  seg = model.semantics({"label": labels, "instance": instance})
  fake, _, _ = model.generate(variables, seg, image=style_image, z=z, rng=rng, train=False)
  return fake


def generate(model: SPADEModel, variables: dict, labels, *, instance=None, z=None, style_image=None,
             rng: Optional[jax.Array] = None) -> jax.Array:
  """Eval-mode generator on label ids. See the module docstring for the modes."""
  labels = np.asarray(labels)
  check_labels(model, labels)
  d, m = model.config.data, model.config.model
  if not d.no_instance:
    if instance is None:
      raise ValueError("this model uses instance edges (no_instance=False): pass `instance` ids "
                       "[B, H, W] (or the label map itself to use class boundaries as edges)")
    instance = np.asarray(instance)
    if instance.shape != labels.shape:
      raise ValueError(f"instance: shape {instance.shape} differs from labels {labels.shape}")
  sean = model.region_styles
  if (style_image is not None and not (m.use_vae or sean)) or (z is not None and not m.use_vae):
    raise ValueError("style_image / z need a model trained with use_vae=True (or, style_image, SEAN)")
  if style_image is not None:  # the VAE's style / SEAN's region codes
    style_image = jnp.asarray(style_image, jnp.float32)
    if style_image.ndim != 4 or style_image.shape[-1] != 3:
      raise ValueError(f"style_image: expected [B, H, W, 3] in [-1, 1], got shape {style_image.shape}")
    if sean and tuple(style_image.shape[1:3]) != tuple(labels.shape[1:3]):
      raise ValueError(f"style_image: SEAN reads per-region styles, so its size {style_image.shape[1:3]} "
                       f"must equal the label map's {labels.shape[1:3]}")
    if style_image.shape[0] != labels.shape[0]:
      style_image = jnp.broadcast_to(style_image[:1], (labels.shape[0],) + style_image.shape[1:])
  elif sean:
    raise ValueError("a SEAN generator needs `style_image` (its per-region style codes are read from it)")
  if m.use_vae and z is None and rng is None:
    raise ValueError("a VAE generator needs `z` or `rng` (random z, or the noise of the style encoding)")
  return _generate(model, variables, jnp.asarray(labels, jnp.int32),
                   None if instance is None else jnp.asarray(instance, jnp.int32), z, style_image, rng)


def generate_multimodal(model: SPADEModel, variables: dict, labels, *, num_samples: int, rng: jax.Array,
                        instance=None, style_image=None) -> jax.Array:
  """K samples per label map from independent draws → `[K, B, H, W, 3]`."""
  keys = jax.random.split(rng, num_samples)
  return jnp.stack([generate(model, variables, labels, instance=instance, style_image=style_image, rng=k)
                    for k in keys])


def to_uint8(images) -> np.ndarray:
  """[-1, 1] floats → uint8 as the official `tensor2im`: (x + 1) / 2 · 255, clipped, truncated."""
  return np.clip((np.asarray(images, np.float32) + 1) / 2 * 255, 0, 255).astype(np.uint8)


def read_label_png(path: str, label_nc: int) -> np.ndarray:
  """One label PNG of class ids (mode L / P / I) → int32 [H, W]; 255 → label_nc (don't-care)."""
  from PIL import Image, UnidentifiedImageError
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: label file not found")
  try:
    with Image.open(path) as im:
      mode = im.mode
      if mode in ("RGB", "RGBA"):
        raise ValueError(f"{path}: RGB label image where class ids are expected (mode {mode}); save the "
                         "ids as a single-channel PNG")
      arr = np.asarray(im.convert("I") if mode not in ("L", "P") else im).astype(np.int32)
  except (UnidentifiedImageError, OSError) as e:
    raise ValueError(f"{path}: unreadable image ({e})") from None
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


def save_pngs(images: np.ndarray, paths: Sequence[str]) -> None:
  from PIL import Image
  for img, p in zip(to_uint8(images), paths):
    os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
    Image.fromarray(img).save(p)
