"""A per-region style swap on one label map, as a picture and a number.

  python -m spade_jax.models.sean.swap_grid --workdir DIR [--classes sky] [--out docs/sean_swap.png]

From the run's val split: a label map L with the chosen classes, photo A (L's own photo) and photo B (the
val photo whose chosen regions look most different from A's: largest mean colour distance there). L is
generated three times with the same noise: with A's codes, with B's codes, and with the swap
`mix_styles(A, B, classes)` (the chosen classes from B, every other region from A). Codes a photo lacks
come from the run's mean codes (`mean_codes.py`). The number: the mean absolute change between the
A-styled and the swapped image inside the chosen classes' pixels and outside them (images in [-1, 1]).

Grid (left to right): L (class colours), photo A, photo B, generated with A, with B, the swap, and the
per-pixel change |swap − A| (white = 1). Writes the PNG and a JSON of the numbers beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from spade_jax.models.sean import styles as styles_lib


def _pick(family, batches, classes, min_fraction=0.15):
  """(target index, photo B index) among the val samples."""
  labels = np.concatenate([b["label"] for b in batches])
  images = np.concatenate([b["image"] for b in batches])
  instances = np.concatenate([b.get("instance", b["label"]) for b in batches])
  inside = np.isin(labels, classes)
  frac = inside.mean((1, 2))
  ok = np.flatnonzero(frac >= min_fraction)
  if not len(ok):
    raise ValueError(f"no val label map with at least {min_fraction:.0%} of its pixels in classes {classes}")
  t = int(ok[0])
  colour = lambda i: images[i][inside[i]].mean(0)  # noqa: E731
  b = int(max((i for i in ok if i != t), key=lambda i: float(np.linalg.norm(colour(i) - colour(t)))))
  return labels, images, instances, t, b


def swap(family, variables, batches, classes, mean, seed=0):
  """→ dict of the images and numbers (see the module docstring)."""
  import jax
  from spade_jax.evaluate.synthesize import generate
  labels, images, instances, t, b = _pick(family, batches, classes)
  lab, inst = labels[t:t + 1], instances[t:t + 1]
  codes_a, has_a = family.encode_styles(variables, images[t:t + 1], lab, inst)
  codes_b, has_b = family.encode_styles(variables, images[b:b + 1], labels[b:b + 1], instances[b:b + 1])
  filled_a, _ = styles_lib.with_mean(codes_a, has_a, mean)
  filled_b, _ = styles_lib.with_mean(codes_b, has_b, mean)
  swapped = styles_lib.mix_styles((filled_a, has_a), (codes_b, has_b), classes, alpha=1.0, mean=mean)
  key = jax.random.key(seed)
  extra = {} if family.config.data.no_instance else {"instance": inst}
  gen = lambda c: np.asarray(generate(family, variables, {"label": lab, "styles": c, **extra}, rng=key))[0]  # noqa: E731
  out_a, out_b, out_s = gen(filled_a), gen(filled_b), gen(swapped)
  region = np.isin(lab[0], classes)
  change = np.abs(out_s - out_a).mean(-1)
  numbers = {"target_index": t, "photo_b_index": b, "classes": [int(c) for c in classes],
             "class_pixels_fraction": round(float(region.mean()), 4),
             "mean_abs_change_inside": round(float(change[region].mean()), 6),
             "mean_abs_change_outside": round(float(change[~region].mean()), 6),
             "mean_abs_difference_A_vs_B_inside": round(float(np.abs(out_b - out_a).mean(-1)[region].mean()), 4),
             "mean_abs_difference_A_vs_B_outside": round(float(np.abs(out_b - out_a).mean(-1)[~region].mean()), 4)}
  numbers["inside_over_outside"] = round(numbers["mean_abs_change_inside"] / max(numbers["mean_abs_change_outside"],
                                                                                   1e-8), 2)
  return {"label": lab[0], "photo_a": images[t], "photo_b": images[b], "gen_a": out_a, "gen_b": out_b,
          "gen_swap": out_s, "change": change, "numbers": numbers}


CAPTIONS = ("label map", "photo A", "photo B", "A's styles", "B's styles", "swap", "|swap - A|")


def grid_png(result, path, colours, scale=3, swapped="swap"):
  from PIL import Image, ImageDraw
  from spade_jax.evaluate.synthesize import to_uint8
  lab = np.asarray(colours, np.uint8)[np.clip(result["label"], 0, len(colours) - 1)]
  change = np.clip(result["change"], 0, 1)
  tiles = [lab] + [to_uint8(result[k]) for k in ("photo_a", "photo_b", "gen_a", "gen_b", "gen_swap")]
  tiles.append(np.repeat((change * 255).astype(np.uint8)[..., None], 3, -1))
  h, w = lab.shape[:2]
  gap = 4
  canvas = np.full((h, len(tiles) * (w + gap) - gap, 3), 255, np.uint8)
  for i, t in enumerate(tiles):
    canvas[:, i * (w + gap):i * (w + gap) + w] = t
  img = Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)
  band = 14
  out = Image.new("RGB", (img.width, img.height + band), "white")
  out.paste(img, (0, band))
  draw = ImageDraw.Draw(out)
  for i, text in enumerate(CAPTIONS):
    draw.text((i * (w + gap) * scale + 2, 1), swapped if text == "swap" else text, fill=(0, 0, 0))
  img = out
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  img.save(path)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m spade_jax.models.sean.swap_grid", description=__doc__.split("\n")[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default=None, help="config file (default: WORKDIR/config.json)")
  p.add_argument("--classes", default="sky", help="comma-separated class names or ids to take from photo B")
  p.add_argument("--mean-codes", default=None, help=f"default: WORKDIR/{styles_lib.MEAN_CODES_FILE}")
  p.add_argument("--val-batches", type=int, default=8)
  p.add_argument("--out", default=os.path.join("docs", "sean_swap.png"))
  args = p.parse_args(argv)
  try:
    from spade_jax.data.pipeline import make_iterator
    from spade_jax.evaluate.restore import load_for_inference
    from spade_jax.models.sean.mean_codes import _config
    config = _config(args.workdir, args.config)
    family, variables = load_for_inference(config, args.workdir)
    classes = family.class_ids(args.classes.split(","))
    mean = family.mean_codes(args.mean_codes or os.path.join(args.workdir, styles_lib.MEAN_CODES_FILE))
    batches = []
    for batch in make_iterator(family.config, "val", process_index=0, process_count=1):
      keep = np.asarray(batch["mask"], bool)
      batches.append({k: np.asarray(batch[k])[keep] for k in ("label", "image", "instance")})
      if len(batches) >= args.val_batches:
        break
    result = swap(family, variables, batches, classes, mean)
  except (ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  try:
    from spade_jax.data.synthetic.layout import CLASS_COLOURS
    colours = CLASS_COLOURS if family.config.data.name == "synthetic" else None
  except ImportError:
    colours = None
  if colours is None:
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (family.num_channels, 3))
  names = family.class_names()
  grid_png(result, args.out, colours,
           swapped="+".join(names[c] if c < len(names) else str(c) for c in classes) + " from B")
  with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
    json.dump(result["numbers"], f, indent=1)
  print(json.dumps(result["numbers"]))
  return 0


if __name__ == "__main__":
  sys.exit(main())
