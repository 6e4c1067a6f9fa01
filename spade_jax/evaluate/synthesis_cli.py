"""`eval.py --mode synthesize`: label PNGs (+ instance PNGs, style image) → generated PNGs.

Every input is validated before anything runs; one bad file stops the run with one line that names
it and the cause, and nothing already in the output directory is overwritten unless asked.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import jax
import numpy as np

from spade_jax.evaluate import synthesize as syn


def _read_style(path: str, hw: tuple[int, int]) -> np.ndarray:
  from PIL import Image, UnidentifiedImageError
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: style image not found")
  try:
    with Image.open(path) as im:
      im = im.convert("RGB").resize((hw[1], hw[0]), Image.BICUBIC)
      return np.asarray(im, np.float32)[None] / 127.5 - 1.0
  except (UnidentifiedImageError, OSError) as e:
    raise ValueError(f"{path}: unreadable style image ({e})") from None


def file_key(seed: int, file_index: int) -> jax.Array:
  """The RNG key of the `file_index`-th label file under `--seed seed`."""
  return jax.random.fold_in(jax.random.key(seed), file_index)


def sample_key(seed: int, file_index: int = 0, sample: int = 0, num_samples: int = 1) -> jax.Array:
  """The key of sample `sample` (of `num_samples`) of that file: what `synthesize_files` generates it
  with (`generate_multimodal`'s split); the paint app uses it so that its results reproduce here."""
  return jax.random.split(file_key(seed, file_index), num_samples)[sample]


@dataclasses.dataclass(frozen=True)
class RegionStyles:
  """Per-region style options, for families that compose per-region codes (`compose_styles`, e.g.
  SEAN): `photos` (a folder of the label maps' own photos, by file name: alone = reconstruction; with
  `classes` the regions that keep their style), `classes` (comma-separated names or ids taking `--style`'s
  code), `style_label` (the style photo's own label map; default: each label map), `mean_codes` (a
  mean-codes file: a class the style photo lacks takes its mean code), `alpha` (blend of the swapped
  classes' codes)."""

  photos: Optional[str] = None
  classes: Optional[str] = None
  style_label: Optional[str] = None
  mean_codes: Optional[str] = None
  alpha: float = 1.0

  def given(self) -> list[str]:
    named = {"--photos": self.photos, "--style-classes": self.classes, "--style-label": self.style_label,
             "--mean-codes": self.mean_codes, "--alpha": None if self.alpha == 1.0 else self.alpha}
    return [k for k, v in named.items() if v is not None]


def _photo_for(folder: str, label_path: str, hw) -> np.ndarray:
  stem = os.path.splitext(os.path.basename(label_path))[0]
  for ext in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
    p = os.path.join(folder, stem + ext)
    if os.path.isfile(p):
      return _read_style(p, hw)
  raise FileNotFoundError(f"{folder}: no photo named {stem}.jpg / .png for {label_path}")


def synthesize_files(family, variables: dict, labels: str, out_dir: str, *,
                     instances: Optional[str] = None, instance_from_label: bool = False,
                     style: Optional[str] = None, num_samples: int = 1, seed: int = 0,
                     overwrite: bool = False, regions: RegionStyles = RegionStyles(), log=print) -> list[str]:
  """Generates one PNG per label file (`<stem>.png`, or `<stem>_<k>.png` for K samples)."""
  d = family.config.data
  spec = {i.name: i for i in family.input_spec()}
  composes = hasattr(family, "compose_styles")
  if regions.given() and not composes:
    raise ValueError(f"{regions.given()[0]} needs a model with per-region styles; this one takes: {', '.join(spec)}")
  classes = mean = style_labels = None
  if composes:
    if regions.classes:
      try:
        classes = family.class_ids(regions.classes.split(","))
      except ValueError as e:
        raise ValueError(f"--style-classes: {e}") from None
      if not regions.photos:
        raise ValueError("--style-classes needs --photos DIR: the other regions keep each label map's own "
                         "photo's style")
      if not style:
        raise ValueError("--style-classes needs --style IMG (the photo the chosen classes take their style from)")
    if not (0.0 <= regions.alpha <= 1.0):
      raise ValueError(f"--alpha {regions.alpha}: expected a blend in [0, 1]")
    if regions.mean_codes:
      mean = family.mean_codes(regions.mean_codes)
    if regions.style_label:
      style_labels = syn.read_label_png(regions.style_label, d.label_nc)[None]
    if not style and not regions.photos:
      raise ValueError("this model reads its styles from a photo: give --style IMG (every region) or "
                       "--photos DIR (each label map's own photo: reconstruction)")
    if regions.photos and not os.path.isdir(regions.photos):
      raise FileNotFoundError(f"--photos {regions.photos}: no such directory")
  if num_samples < 1:
    raise ValueError(f"--num-samples must be ≥ 1, got {num_samples}")
  if num_samples > 1 and not family.multimodal:
    raise ValueError("--num-samples > 1 needs a multimodal model (e.g. trained with a style encoder); "
                     "this one is deterministic")
  if style and "style_image" not in spec:
    raise ValueError(f"--style needs a model with a style encoder; this one takes: {', '.join(spec)}")
  files = syn.list_label_files(labels)
  style_img = _read_style(style, family.image_hw) if style else None
  items = []
  for path in files:  # validate everything first
    lab = syn.read_label_png(path, d.label_nc)
    photo = _photo_for(regions.photos, path, family.image_hw) if composes and regions.photos else None
    check = {"label": lab[None], **({"instance": lab[None]} if "instance" in spec else {})}
    if "style_image" in spec and (style_img if style_img is not None else photo) is not None:
      check["style_image"] = style_img if style_img is not None else photo
    family.check_inputs(check, where=path)
    inst = None
    if "instance" in spec:
      if instances:
        ipath = os.path.join(instances, os.path.basename(path)) if os.path.isdir(instances) else instances
        if not os.path.isfile(ipath):
          raise FileNotFoundError(f"{ipath}: instance map for {path} not found")
        from PIL import Image
        with Image.open(ipath) as im:
          inst = np.asarray(im if im.mode in ("L", "P", "I", "I;16") else im.convert("I")).astype(np.int32)
        if inst.shape != lab.shape:
          raise ValueError(f"{ipath}: instance map size {inst.shape} differs from its label map {lab.shape}")
      elif instance_from_label:
        inst = lab
      else:
        raise ValueError("the model uses instance edges: pass --instances DIR, or "
                         "--instance-from-label to use class boundaries as instance edges")
    items.append((path, lab, inst, photo))
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for i, (path, lab, inst, photo) in enumerate(items):
    stem = syn.safe_stem(path)
    outs = [os.path.join(out_dir, f"{stem}.png")] if num_samples == 1 else [
        os.path.join(out_dir, f"{stem}_{k}.png") for k in range(num_samples)]
    existing = [p for p in outs if os.path.exists(p)]
    if existing and not overwrite:
      raise FileExistsError(f"{existing[0]} exists; pass --overwrite or choose another --out")
    inputs = {"label": lab[None]}
    if inst is not None:
      inputs["instance"] = inst[None]
    if composes and style_img is not None:
      inputs["styles"] = family.compose_styles(
          variables, lab[None], None if inst is None else inst[None], style_image=style_img,
          style_labels=style_labels, classes=classes, target_image=photo, mean=mean, alpha=regions.alpha)
    elif composes:
      inputs["style_image"] = photo  # reconstruction: each label map's own photo
    elif style_img is not None:
      inputs["style_image"] = style_img
    if family.multimodal:
      imgs = syn.generate_multimodal(family, variables, inputs, num_samples=num_samples,
                                     rng=file_key(seed, i))[:, 0]
    else:
      imgs = syn.generate(family, variables, inputs)
    syn.save_pngs(np.asarray(imgs), outs)
    written += outs
    log(f"[{i + 1}/{len(items)}] {path} → {', '.join(outs)}")
  return written
