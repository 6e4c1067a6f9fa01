"""Embedded default dataset: procedural landscapes (label map, instance map, photo), no download.

`make_sample(seed, split, index)` is a pure function: the same arguments give the same arrays on
every machine. The tfds builder that stores them is `spade_jax.data.builders.synthetic`.
"""

from __future__ import annotations

import numpy as np

from spade_jax.data.decoding import encode_jpeg, encode_png

from spade_jax.data.synthetic.layout import CLASSES, THING_CLASSES, make_layout
from spade_jax.data.synthetic.render import render_photo
from spade_jax.data.synthetic.style import sample_style

LABEL_NC = len(CLASSES)
_SPLIT_IDS = {"train": 0, "val": 1}


def make_sample(seed: int, split: str, index: int, size: tuple[int, int] = (256, 256)) -> dict:
  """One landscape: `image` uint8 [H, W, 3], `label` uint8 [H, W], `instance` uint16 [H, W], `style`.

  `size` is (height, width). Layout, style and rendering use independent streams, so the style is
  not a function of the label map.
  """
  h, w = size
  seq = np.random.SeedSequence([int(seed), _SPLIT_IDS[split], int(index)])
  layout_rng, style_rng, render_rng = (np.random.default_rng(s) for s in seq.spawn(3))
  lay = make_layout(layout_rng, h, w)
  style = sample_style(style_rng)
  image = render_photo(render_rng, lay, style)
  return {"image": image, "label": lay.label, "instance": lay.instance, "style": style.as_dict(),
          "scene": lay.scene}


def render_records(job: tuple[int, str, int, int, int]) -> list[dict]:
  """Encoded records (JPEG photo, PNG label and instance maps) of samples `start..stop-1`.

  `job` = (seed, split, start, stop, size); a picklable unit of work for worker processes.
  """
  seed, split, start, stop, size = job
  out = []
  for i in range(start, stop):
    s = make_sample(seed, split, i, (size, size))
    st = s["style"]
    out.append({"image": encode_jpeg(s["image"]), "label": encode_png(s["label"]),
                "instance": encode_png(s["instance"]),
                "name": f"{split}/{i:06d} {s['scene']} {st['time']} {st['season']}"})
  return out


__all__ = ["CLASSES", "LABEL_NC", "THING_CLASSES", "make_sample", "render_records"]
