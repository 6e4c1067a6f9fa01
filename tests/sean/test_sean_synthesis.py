"""`eval.py --mode synthesize` with per-region styles (SEAN): reconstruction from the paired photos, a whole
style photo, a per-class swap (`--style-classes`), and the bad inputs — through `synthesize_files`, the code
behind the flags (a tiny model with random weights)."""

import numpy as np
import pytest
from model_utils import load_config, random_variables
from PIL import Image

from spade_jax import models
from spade_jax.evaluate import synthesize as syn
from spade_jax.evaluate.synthesis_cli import RegionStyles, synthesize_files


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  family = models.build(load_config("sean/tiny"))
  variables = {"G": random_variables(family.model, seed=1, scale=0.2)["G"]}
  h, w = family.image_hw
  d = tmp_path_factory.mktemp("sean_cli")
  (d / "labels").mkdir()
  (d / "photos").mkdir()
  rng = np.random.default_rng(0)
  for i in range(2):
    lab = np.zeros((h, w), np.uint8)
    lab[h // 2:] = 7  # grass below the sky (class 0)
    Image.fromarray(lab, mode="L").save(d / "labels" / f"im{i}.png")
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(d / "photos" / f"im{i}.jpg")
  Image.fromarray(np.full((h, w, 3), 230, np.uint8)).save(d / "style.png")
  return family, variables, d


def _read(path):
  return np.asarray(Image.open(path), np.int32)


def test_reconstruction_style_photo_and_per_class_swap(files, tmp_path):
  family, variables, d = files
  kw = dict(instance_from_label=True)
  rec = synthesize_files(family, variables, str(d / "labels"), str(tmp_path / "rec"),
                         regions=RegionStyles(photos=str(d / "photos")), **kw)
  whole = synthesize_files(family, variables, str(d / "labels"), str(tmp_path / "whole"), style=str(d / "style.png"), **kw)
  swap = synthesize_files(family, variables, str(d / "labels"), str(tmp_path / "swap"), style=str(d / "style.png"),
                          regions=RegionStyles(photos=str(d / "photos"), classes="sky"), **kw)
  assert [p.rsplit("/", 1)[1] for p in rec] == ["im0.png", "im1.png"]
  lab = np.asarray(Image.open(d / "labels" / "im0.png"))
  sky = lab == 0
  a, b, c = (_read(x[0]) for x in (rec, whole, swap))
  assert a.shape == (32, 32, 3)
  # The swap takes the style photo's code in the sky and keeps the paired photo's elsewhere: it differs from
  # the reconstruction more inside the sky than outside it.
  inside, outside = np.abs(c - a)[sky].mean(), np.abs(c - a)[~sky].mean()
  assert inside > outside, (inside, outside)
  assert not np.array_equal(a, b)
  # The reconstruction is generate() with the paired photo as style_image.
  photo = np.asarray(Image.open(d / "photos" / "im0.jpg").convert("RGB"), np.float32)[None] / 127.5 - 1.0
  lab_ids = syn.read_label_png(str(d / "labels" / "im0.png"), 10)[None]
  want = syn.to_uint8(syn.generate(family, variables, {"label": lab_ids, "instance": lab_ids, "style_image": photo}))
  np.testing.assert_array_equal(a, want[0])


def test_region_flags_bad_inputs(files, tmp_path):
  family, variables, d = files
  out = str(tmp_path / "o")
  with pytest.raises(ValueError, match=r"--style-classes: style class 'lava' is not a class of this model"):
    synthesize_files(family, variables, str(d / "labels"), out, style=str(d / "style.png"), instance_from_label=True,
                     regions=RegionStyles(photos=str(d / "photos"), classes="sky,lava"))
  with pytest.raises(ValueError, match="--style-classes needs --photos DIR"):
    synthesize_files(family, variables, str(d / "labels"), out, style=str(d / "style.png"), instance_from_label=True,
                     regions=RegionStyles(classes="sky"))
  with pytest.raises(ValueError, match="give --style IMG .* or --photos DIR"):
    synthesize_files(family, variables, str(d / "labels"), out, instance_from_label=True)
  with pytest.raises(FileNotFoundError, match="mean_style_codes.npz"):
    synthesize_files(family, variables, str(d / "labels"), out, style=str(d / "style.png"), instance_from_label=True,
                     regions=RegionStyles(mean_codes=str(tmp_path / "mean_style_codes.npz")))
  with pytest.raises(ValueError, match=r"--alpha 1.5: expected a blend in \[0, 1\]"):
    synthesize_files(family, variables, str(d / "labels"), out, style=str(d / "style.png"), instance_from_label=True,
                     regions=RegionStyles(alpha=1.5))
  assert not (tmp_path / "o").exists()
  spade = models.build(load_config("spade/tiny"))
  with pytest.raises(ValueError, match="--photos needs a model with per-region styles"):
    synthesize_files(spade, {}, str(d / "labels"), out, instance_from_label=True,
                     regions=RegionStyles(photos=str(d / "photos")))
