"""A picture of what a trained model does: rows of `label | generated in 3 styles | real`.

    .venv/bin/python scripts/sample_grid.py --config configs/spade/synthetic.py --workdir runs/synthetic \
        --out docs/synthetic_demo_grid.png [--rows 6] [--styles 3] [--style-source random|photos] [--scale 2]
        [--style-names "night winter,sunset autumn,day summer"]

Label maps and real photos are from the val split. With a VAE generator the styles are random codes
z ~ N(0, I), one per column (multimodal synthesis, `--style-source random`), or style-guided from
fixed val photos shown in the top row (`--style-source photos`, also SEAN's only mode; `--style-names`
picks them by their time of day and season); without
either the generator is deterministic and the grid has one generated column. EMA weights with re-estimated BN statistics are
used when the run kept them (as `eval.py`).
"""

from __future__ import annotations

import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file of the run.", lock_config=True)
flags.DEFINE_string("workdir", None, "The run's work directory.")
flags.DEFINE_string("out", None, "Output PNG.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
flags.DEFINE_integer("rows", 6, "Label maps (rows).")
flags.DEFINE_integer("styles", 3, "Generated columns (VAE / SEAN models).")
flags.DEFINE_enum("style-source", "random", ["random", "photos"], "VAE: random z per column, or the "
                  "encoder on val photos (SEAN always uses photos).")
flags.DEFINE_list("style-names", [], "Style photos by their style, e.g. 'night winter,sunset_autumn': "
                  "the first val photo (after the grid's rows) of each named time of day and season "
                  "(synthetic landscapes); implies --style-source photos and sets the column count.")
flags.DEFINE_integer("scale", 2, "Nearest-neighbour enlargement of every tile.")
flags.DEFINE_integer("seed", 0, "Which val images (a seeded choice).")


def build_grid(labels, instances, reals, styles, gen, colours, pad: int = 2) -> np.ndarray:
  """uint8 grid. `styles`: one entry per generated column, a style photo [H, W, 3] (shown above its
  column) or None; `gen(labels, instances, style [1, H, W, 3] or None, column)` → images in [-1, 1]."""
  from spade_jax.evaluate.synthesize import to_uint8
  n, h, w = labels.shape
  cols = [colours[np.clip(labels, 0, len(colours) - 1)]]
  header = [None]
  for k, st in enumerate(styles if len(styles) else [None]):
    cols.append(to_uint8(gen(labels, instances, None if st is None else st[None], k)))
    header.append(None if st is None else to_uint8(st))
  cols.append(to_uint8(reals))
  header.append(None)
  has_header = any(x is not None for x in header)
  rows = n + int(has_header)
  grid = np.full((rows * (h + pad) + pad, len(cols) * (w + pad) + pad, 3), 255, np.uint8)
  for c, col in enumerate(cols):
    x = pad + c * (w + pad)
    if has_header and header[c] is not None:
      grid[pad:pad + h, x:x + w] = header[c]
    for r in range(n):
      y = pad + (r + int(has_header)) * (h + pad)
      grid[y:y + h, x:x + w] = col[r]
  return grid


def _style_id(name: str, style_lib) -> tuple[int, int]:
  """'night winter' → (time id, season id), or a usage error naming the choices."""
  parts = name.split()
  if len(parts) != 2 or parts[0] not in style_lib.TIMES or parts[1] not in style_lib.SEASONS:
    raise app.UsageError(f"--style-names: {name!r} is not '<time> <season>' (time in "
                         f"{', '.join(style_lib.TIMES)}; season in {', '.join(style_lib.SEASONS)})")
  return style_lib.TIMES.index(parts[0]), style_lib.SEASONS.index(parts[1])


def pick_by_style(names, wanted, styles, start: int) -> list[int]:
  """For each wanted (time id, season id): the first position ≥ `start` of `styles` ([N, 2]) with it."""
  out = []
  for name, want in zip(names, wanted):
    hit = np.flatnonzero((np.asarray(styles)[start:] == want).all(1))
    if not len(hit):
      raise app.UsageError(f"--style-names: no val photo is '{name}' (after the first {start})")
    out.append(start + int(hit[0]))
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.config is None or not FLAGS.workdir or not FLAGS.out:
    raise app.UsageError("--config, --workdir and --out are required")
  import jax
  from PIL import Image

  from spade_jax.data.pipeline import make_iterator
  from spade_jax.evaluate import synthesize as syn
  from spade_jax.evaluate.restore import load_for_inference
  from spade_jax.train.logs import palette

  family, variables = load_for_inference(FLAGS.config, FLAGS.workdir, FLAGS.step)
  cfg = family.config
  spec = {i.name: i for i in family.input_spec()}
  named = [" ".join(n.replace("_", " ").split()) for n in FLAGS["style-names"].value]
  wanted = None
  if named:
    from spade_jax.data import builders
    from spade_jax.data.pipeline import prepared_dir
    from spade_jax.evaluate import style as style_lib
    table = style_lib.style_table(builders.open_split(prepared_dir(cfg), "val"), "--style-names")
    wanted = [_style_id(n, style_lib) for n in named]
  images, labels, instances, index = [], [], [], []
  for b in make_iterator(cfg, "val", seed=FLAGS.seed):
    m = np.asarray(b["mask"], bool)
    images.append(np.asarray(b["image"])[m])
    labels.append(np.asarray(b["label"])[m])
    instances.append(np.asarray(b["instance"])[m])
    index.append(np.asarray(b["index"])[m])
    if wanted is None and sum(len(x) for x in images) >= FLAGS.rows + FLAGS.styles:
      break
  images, labels, instances, index = (np.concatenate(x) for x in (images, labels, instances, index))
  rows = slice(0, FLAGS.rows)
  style = spec.get("style_image")
  if named and style is None:
    raise app.UsageError(f"--style-names: this {family.name} model takes no style photo")
  photos = style is not None and (style.required or FLAGS["style-source"].value == "photos")
  if named:
    picked = list(pick_by_style(named, wanted, table[index], FLAGS.rows))
  elif photos:
    picked = list(range(FLAGS.rows, FLAGS.rows + FLAGS.styles))
  else:
    picked = None
  if picked is not None:
    styles = [images[i] for i in picked]
  else:
    styles = [None] * FLAGS.styles if family.multimodal else []
  rng = jax.random.key(FLAGS.seed)

  def gen(lab, inst, style, k):
    inputs = {"label": lab}
    if "instance" in spec:
      inputs["instance"] = inst
    if style is not None:  # photo k's style, as the eval harness's cross test (SEAN: its codes under its labels)
      source = {"label": labels[picked[k]][None], "style_image": style}
      if "instance" in spec:
        source["instance"] = instances[picked[k]][None]
      inputs = family.cross_inputs(variables, inputs, source)
    return syn.generate(family, variables, inputs, rng=jax.random.fold_in(rng, k) if family.multimodal else None)

  grid = build_grid(labels[rows], instances[rows], images[rows], styles, gen, palette(cfg))
  if FLAGS.scale > 1:
    grid = grid.repeat(FLAGS.scale, 0).repeat(FLAGS.scale, 1)
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
  Image.fromarray(grid).save(FLAGS.out)
  print(f"wrote {FLAGS.out}: {FLAGS.rows} rows × (label | {max(len(styles), 1)} generated | real)")


if __name__ == "__main__":
  from spade_jax import cli
  cli.run(main)
