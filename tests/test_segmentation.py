"""The synthetic-data segmenter: learns a colour-coded toy task, scores, saves and loads."""

import numpy as np
import pytest

from spade_jax.evaluate import segmentation as seg

COLORS = np.array([[-1, -1, 1], [1, -1, -1], [-1, 1, -1]], np.float32)  # class → RGB in [-1, 1]


def toy_batches(seed, n=8, size=16, dontcare=3):
  rng = np.random.default_rng(seed)
  while True:
    label = np.zeros((n, size, size), np.int32)
    for b in range(n):
      label[b, :, rng.integers(2, size - 2):] = 1
      label[b, rng.integers(2, size - 2):, :] = 2
    image = COLORS[label] + rng.normal(0, 0.3, (n, size, size, 3)).astype(np.float32)
    label[:, 0, 0] = dontcare  # don't-care pixels are ignored by training and scoring
    yield {"image": image, "label": label}


def test_segmenter_learns_scores_and_round_trips(tmp_path):
  params = seg.train_segmenter(toy_batches(0), nc=3, steps=60, width=8, lr=3e-3, log=lambda *_: None)
  predict = seg.make_predict(params, 3, width=8)
  batches = [next(toy_batches(1)) for _ in range(2)]
  batches[1]["mask"] = np.array([True] * 4 + [False] * 4)
  s = seg.score(predict, batches, 3)
  assert s["miou"] > 0.9 and s["pixel_acc"] > 0.95, s
  seg.save(str(tmp_path / "segm"), params, {"real_val_miou": s["miou"]})
  loaded, meta = seg.load(str(tmp_path / "segm"))
  assert meta["real_val_miou"] == s["miou"]
  np.testing.assert_array_equal(seg.make_predict(loaded, 3, width=8)(batches[0]["image"]),
                                predict(batches[0]["image"]))
  with pytest.raises(FileNotFoundError, match="segmenter not found in .*nothing.*python -m spade_jax.evaluate.segmentation"):
    seg.load(str(tmp_path / "nothing"))
