"""Writers of tiny datasets (a few 8x6-pixel images) in every supported layout, for the tests."""

from __future__ import annotations

import os
import pathlib

import numpy as np
from PIL import Image


def write(path, arr=None, mode=None, size=(8, 6), fmt=None, value=3) -> str:
  """Writes an image file; by default an 8-bit id map filled with `value`."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if arr is None:
    arr = np.full((size[1], size[0]), value, np.uint8)
  img = Image.fromarray(arr) if mode is None else Image.fromarray(arr).convert(mode)
  img.save(path, format=fmt)
  return str(path)


def photo(path, size=(8, 6), seed=0) -> str:
  rgb = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
  return write(path, rgb)


def ids(size=(8, 6), hi=3, seed=0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, hi, (size[1], size[0]), dtype=np.uint8)


def folder_dataset(root, n=(3, 2), instance=True, label_nc=3, prefix="",
                   pattern=("{s}_label", "{s}_img", "{s}_inst")) -> str:
  """SPADE-style folders: <split>_label (id PNG), <split>_img (JPEG), <split>_inst (PNG)."""
  for split, count in zip(("train", "val"), n):
    for i in range(count):
      name = f"{prefix}{split}{i:03d}"
      lab, img, inst = (os.path.join(root, p.format(s=split)) for p in pattern)
      write(f"{lab}/{name}.png", ids(hi=label_nc, seed=i))
      photo(f"{img}/{name}.jpg", seed=i)
      if instance:
        write(f"{inst}/{name}.png", ids(hi=2, seed=100 + i))
  return str(root)


def cityscapes_official(root, n=2) -> str:
  for split in ("train", "val"):
    for i in range(n):
      stem = f"aachen_{i:06d}_000019"
      gt = os.path.join(root, "gtFine", split, "aachen")
      write(f"{gt}/{stem}_gtFine_labelIds.png", ids(hi=34, seed=i))
      inst = (ids(hi=3, seed=i).astype(np.int32) + 26) * 1000
      write(f"{gt}/{stem}_gtFine_instanceIds.png", inst.astype(np.uint16))
      write(f"{gt}/{stem}_gtFine_color.png", np.zeros((6, 8, 3), np.uint8))
      with open(f"{gt}/{stem}_gtFine_polygons.json", "w") as f:
        f.write("{}")
      photo(os.path.join(root, "leftImg8bit", split, "aachen", f"{stem}_leftImg8bit.png"), seed=i)
  return str(root)


def ade20k(root, n=2) -> str:
  base = os.path.join(root, "ADEChallengeData2016")
  for split, tag in (("training", "train"), ("validation", "val")):
    for i in range(n):
      stem = f"ADE_{tag}_{i + 1:08d}"
      write(f"{base}/annotations/{split}/{stem}.png", ids(hi=151, seed=i))
      photo(f"{base}/images/{split}/{stem}.jpg", seed=i)
  with open(f"{base}/objectInfo150.txt", "w") as f:
    f.write("metadata\n")
  return str(root)
