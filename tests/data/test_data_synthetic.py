"""The embedded synthetic landscapes: deterministic, natural class layout, instances, varied style."""

import numpy as np

from spade_jax.data import synthetic
from spade_jax.data.synthetic import layout as L


def test_deterministic_for_a_seed():
  a = synthetic.make_sample(3, "train", 5, (64, 64))
  b = synthetic.make_sample(3, "train", 5, (64, 64))
  for k in ("image", "label", "instance"):
    np.testing.assert_array_equal(a[k], b[k])
  c = synthetic.make_sample(4, "train", 5, (64, 64))
  assert not np.array_equal(a["image"], c["image"])
  assert not np.array_equal(a["label"], synthetic.make_sample(3, "val", 5, (64, 64))["label"])


def test_classes_layout_and_instances():
  samples = [synthetic.make_sample(0, "train", i, (64, 96)) for i in range(24)]
  s = samples[0]
  assert s["image"].shape == (64, 96, 3) and s["image"].dtype == np.uint8
  assert s["label"].shape == (64, 96) and s["instance"].dtype == np.uint16
  seen = set()
  for s in samples:
    lab, inst = s["label"], s["instance"]
    seen |= set(np.unique(lab).tolist())
    assert lab.max() < synthetic.LABEL_NC
    assert lab[0].tolist().count(L.SKY) > 0  # sky at the top row
    assert (lab[-1] != L.SKY).all()  # never sky at the bottom row
    things = inst >= 1000
    np.testing.assert_array_equal(inst[things] // 1000, lab[things])  # class*1000 + k
    assert set(np.unique(lab[things]).tolist()) <= set(synthetic.THING_CLASSES)
    np.testing.assert_array_equal(inst[~things], lab[~things])  # stuff keeps its class id
  assert len(seen) >= 8 and len(synthetic.CLASSES) >= 8


def test_style_is_not_determined_by_the_label_map():
  styles = {tuple(sorted(synthetic.make_sample(0, "train", i, (32, 32))["style"].items()))
            for i in range(30)}
  times = {dict(s)["time"] for s in styles}
  seasons = {dict(s)["season"] for s in styles}
  assert len(times) >= 3 and len(seasons) >= 3


def test_photo_follows_the_labels():
  s = synthetic.make_sample(0, "train", 1, (128, 128))
  img, lab = s["image"].astype(float), s["label"]
  means = {c: img[lab == c].mean(0) for c in np.unique(lab) if (lab == c).sum() > 50}
  if L.SKY in means and L.GRASS in means:
    assert means[L.SKY][2] > means[L.GRASS][2]  # sky is bluer than grass
  assert img.std() > 10  # not a flat image
