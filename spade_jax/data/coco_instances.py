"""COCO instance maps in the official SPADE form, from the COCO annotation JSON (NVlabs/SPADE `data/<dataset>_dataset.py`: `get_paths`).

    python -m spade_jax.data.coco_instances --annotations annotations/instances_train2017.json \
        --labels DIR/train_label --out DIR/train_inst

For each label map `<id>.png` (stuffthingmaps), start from the label map itself (8-bit), then fill
every polygon annotation of that image (crowd / RLE annotations skipped) with a running counter
0, 1, 2, ... (one value per annotation, mod 256), polygon coordinates shifted by -1, and save an
8-bit PNG. Only the boundaries matter to the network (instance edges).
"""

from __future__ import annotations

import argparse
import collections
import json
import os

from PIL import Image, ImageDraw

from spade_jax import errors
from spade_jax.data import cli
from spade_jax.data.decoding import DecodeError, open_image
from spade_jax.data.problems import DataError, Problem


def instance_map(label: Image.Image, annotations: list[dict]) -> Image.Image:
  inst = label.convert("L").copy()
  draw = ImageDraw.Draw(inst)
  for counter, ann in enumerate(a for a in annotations
                                if not a.get("iscrowd") and isinstance(a.get("segmentation"), list)):
    for poly in ann["segmentation"]:
      pts = [(x - 1, y - 1) for x, y in zip(poly[0::2], poly[1::2])]
      if len(pts) >= 2:
        draw.polygon(pts, fill=counter % 256)
  return inst


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m spade_jax.data.coco_instances", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--annotations", required=True, help="COCO instances_<split>2017.json")
  p.add_argument("--labels", required=True, help="folder of stuffthingmaps label PNGs")
  p.add_argument("--out", required=True, help="folder for the instance maps")
  errors.add_verbose_flag(p)
  a = p.parse_args(argv)
  with open(a.annotations) as f:
    coco = json.load(f)
  by_image = collections.defaultdict(list)
  for ann in coco["annotations"]:
    by_image[ann["image_id"]].append(ann)
  names = {img["id"]: os.path.splitext(img["file_name"])[0] for img in coco["images"]}
  os.makedirs(a.out, exist_ok=True)
  problems = []
  for image_id, stem in sorted(names.items()):
    path = os.path.join(a.labels, stem + ".png")
    try:
      label = open_image(path)
    except DecodeError as e:
      problems.append(Problem(path, str(e)))
      continue
    instance_map(label, by_image[image_id]).save(os.path.join(a.out, stem + ".png"))
  if problems:
    raise DataError(problems, header=f"{len(problems)} label map(s) could not be read")
  print(f"wrote {len(names)} instance maps to {a.out}")
  return 0


if __name__ == "__main__":
  cli.run(main)
