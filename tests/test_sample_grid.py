"""scripts/sample_grid.py: the README grid's layout (header row of style photos, label | styles | real)
and the choice of style photos by name (`--style-names`)."""

import functools
import os

import numpy as np
import pytest
from absl import app
from model_utils import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.cache
def _module():  # once: the script defines absl flags at import
  return load_script(os.path.join(REPO, "scripts", "sample_grid.py"))


def test_grid_layout():
  build_grid = _module().build_grid
  n, h, w, pad = 2, 4, 5, 2
  labels = np.array([np.full((h, w), 1), np.full((h, w), 2)])
  reals = np.full((n, h, w, 3), 1.0, np.float32)  # white
  styles = np.stack([np.full((h, w, 3), -1.0, np.float32), np.full((h, w, 3), 0.0, np.float32)])
  colours = np.array([[0, 0, 0], [10, 20, 30], [40, 50, 60]], np.uint8)
  calls = []

  def gen(lab, inst, style, k):
    calls.append(style)
    return np.broadcast_to(style, (len(lab),) + style.shape[1:])  # "generated" = the style photo

  g = build_grid(labels, labels, reals, styles, gen, colours, pad=pad)
  assert g.shape == (3 * (h + pad) + pad, 4 * (w + pad) + pad, 3)  # header + 2 rows; 4 columns
  assert len(calls) == 2 and calls[0].shape == (1, h, w, 3)
  tile = lambda r, c: g[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w]
  assert (tile(0, 0) == 255).all() and (tile(0, 3) == 255).all()  # header: only above the styles
  assert (tile(0, 1) == 0).all() and (tile(0, 2) == 127).all()  # the style photos
  assert (tile(1, 0) == [10, 20, 30]).all() and (tile(2, 0) == [40, 50, 60]).all()  # label colours
  assert (tile(2, 1) == 0).all() and (tile(2, 2) == 127).all() and (tile(2, 3) == 255).all()


def test_grid_without_styles_has_no_header():
  build_grid = _module().build_grid
  labels = np.zeros((3, 4, 4), np.int64)
  g = build_grid(labels, labels, np.zeros((3, 4, 4, 3), np.float32), [],
                 lambda lab, inst, style, k: np.zeros((len(lab), 4, 4, 3), np.float32),
                 np.zeros((1, 3), np.uint8), pad=1)
  assert g.shape == (3 * 5 + 1, 3 * 5 + 1, 3)
  g = build_grid(labels, labels, np.zeros((3, 4, 4, 3), np.float32), [None, None],
                 lambda lab, inst, style, k: np.full((len(lab), 4, 4, 3), k - 1.0, np.float32),
                 np.zeros((1, 3), np.uint8), pad=1)
  assert g.shape == (3 * 5 + 1, 4 * 5 + 1, 3)  # random-z columns: no header row
  assert (g[1:5, 6:10] == 0).all() and (g[1:5, 11:15] == 127).all()  # column k got k


def test_style_photos_picked_by_name():
  mod = _module()
  from spade_jax.evaluate import style as st
  assert mod._style_id("night  winter".replace("  ", " "), st) == (4, 3)
  for bad in ("night", "dusk winter", "night winter spring"):
    with pytest.raises(app.UsageError, match=r"--style-names: .* is not '<time> <season>' \(time in day, golden"):
      mod._style_id(bad, st)
  styles = np.array([[4, 3], [0, 1], [4, 3], [2, 2], [0, 1]])
  assert mod.pick_by_style(["night winter", "day summer"], [(4, 3), (0, 1)], styles, 1) == [2, 1]
  with pytest.raises(app.UsageError, match=r"^--style-names: no val photo is 'sunset autumn' \(after the first 4\)$"):
    mod.pick_by_style(["sunset autumn"], [(2, 2)], styles, 4)
