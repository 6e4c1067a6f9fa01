"""Segmentation metrics on hand-made maps."""

import numpy as np
import pytest

from spade_jax.evaluate.metrics import confusion_matrix, scores


def test_miou_and_accuracy_on_hand_made_maps():
  gt = np.array([[0, 0, 1, 1],
                 [0, 0, 1, 1],
                 [2, 2, 9, 9]])  # 9 = don't-care
  pred = np.array([[0, 1, 1, 1],
                   [0, 0, 1, 2],
                   [2, 2, 0, 2]])
  conf = confusion_matrix(gt, pred, 3, ignore_index=9)
  np.testing.assert_array_equal(conf, [[3, 1, 0], [0, 3, 1], [0, 0, 2]])
  s = scores(conf)
  # IoU0 = 3/(3+1+0) ; IoU1 = 3/(4+4-3) ; IoU2 = 2/(2+3-2)
  np.testing.assert_allclose(s["iou_per_class"], [3 / 4, 3 / 5, 2 / 3])
  np.testing.assert_allclose(s["miou"], np.mean([3 / 4, 3 / 5, 2 / 3]))
  np.testing.assert_allclose(s["pixel_acc"], 8 / 10)


def test_absent_classes_do_not_count_and_perfect_is_one():
  gt = np.array([0, 0, 2, 2])
  s = scores(confusion_matrix(gt, gt, 4))
  assert s["miou"] == 1.0 and s["pixel_acc"] == 1.0
  assert np.isnan(s["iou_per_class"][1]) and np.isnan(s["iou_per_class"][3])
  s = scores(confusion_matrix(gt, np.array([0, 0, 2, 3]), 4))  # a false positive of class 3 counts
  np.testing.assert_allclose(s["miou"], np.mean([1, 1 / 2, 0]))


def test_bad_inputs():
  with pytest.raises(ValueError, match="differ in size"):
    confusion_matrix(np.zeros(3), np.zeros(4), 2)
  with pytest.raises(ValueError, match="ground-truth id 5 outside 0..2"):
    confusion_matrix(np.array([5]), np.array([0]), 3)
  with pytest.raises(ValueError, match="predicted id 3 outside 0..2"):
    confusion_matrix(np.array([0]), np.array([3]), 3)
