"""Contact sheet of the synthetic dataset: photos over their label maps (with instance edges), and
one label map rendered in several styles.

    python -m spade_jax.data.synthetic.contact_sheet --out docs/synthetic_contact_sheet.png
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from PIL import Image

from spade_jax import errors
from spade_jax.data.synthetic import make_sample
from spade_jax.data.synthetic.layout import CLASS_COLOURS, make_layout
from spade_jax.data.synthetic.render import render_photo
from spade_jax.data.synthetic.style import sample_style


def label_picture(label: np.ndarray, instance: np.ndarray) -> np.ndarray:
  """Class colours, with the official instance edges (4-neighbour changes) drawn dark."""
  pic = np.asarray(CLASS_COLOURS, np.uint8)[label]
  e = np.zeros(instance.shape, bool)
  dx, dy = instance[:, 1:] != instance[:, :-1], instance[1:] != instance[:-1]
  e[:, 1:] |= dx
  e[:, :-1] |= dx
  e[1:] |= dy
  e[:-1] |= dy
  pic[e] = pic[e] // 3
  return pic


def sheet(seed: int = 0, cols: int = 6, rows: int = 2, size: int = 256, tile: int = 192,
          styles_of: int = 9) -> Image.Image:
  def fit(a):
    return np.asarray(Image.fromarray(a).resize((tile, tile), Image.LANCZOS))

  lines = []
  for r in range(rows):
    samples = [make_sample(seed, "train", r * cols + c, (size, size)) for c in range(cols)]
    lines.append(np.concatenate([fit(s["image"]) for s in samples], 1))
    lines.append(np.concatenate([fit(label_picture(s["label"], s["instance"])) for s in samples], 1))
  # One layout, several styles: what the label map does not determine.
  seq = np.random.SeedSequence([seed, 0, styles_of])
  lay = make_layout(np.random.default_rng(seq.spawn(3)[0]), size, size)
  row = [fit(label_picture(lay.label, lay.instance))]
  looks = (("day", "summer", 0.1), ("golden", "autumn", 0.2), ("sunset", "summer", 0.1),
           ("overcast", "winter", 0.5), ("night", "spring", 0.1))
  for k, (time, season, haze) in enumerate(looks[:cols - 1]):
    rng = np.random.default_rng([seed, 1000 + k])
    style = dataclasses.replace(sample_style(rng), time=time, season=season, haze=haze)
    row.append(fit(render_photo(rng, lay, style)))
  lines.append(np.concatenate(row, 1))
  gap = np.full((6, cols * tile, 3), 255, np.uint8)
  out = []
  for i, line in enumerate(lines):
    out += [line] + ([gap] if i % 2 == 1 else [])
  return Image.fromarray(np.concatenate(out, 0))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--out", default="docs/synthetic_contact_sheet.png")
  p.add_argument("--seed", type=int, default=0)
  errors.add_verbose_flag(p)
  a = p.parse_args(argv)
  sheet(a.seed).save(a.out, optimize=True)
  print(f"wrote {a.out}")
  return 0


if __name__ == "__main__":
  errors.run_main(main)
