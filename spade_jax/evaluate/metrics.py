"""Segmentation metrics for label-to-image evaluation: confusion matrix, mIoU, pixel accuracy.

Protocol (fixed and documented, since the SPADE paper does not define it): predictions and ground
truth are compared at the same resolution; ground-truth pixels equal to `ignore_index` (the
don't-care id) are excluded from every count; IoU_c = TP / (TP + FP + FN) over the whole split
(accumulated, not averaged per image); mIoU is the mean over classes with a non-empty union
(present in the ground truth or predicted); pixel accuracy = correct / counted pixels.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def confusion_matrix(gt, pred, num_classes: int, ignore_index: Optional[int] = None) -> np.ndarray:
  """`[num_classes, num_classes]` int64 counts, rows = ground truth, columns = prediction."""
  gt, pred = np.asarray(gt).ravel(), np.asarray(pred).ravel()
  if gt.shape != pred.shape:
    raise ValueError(f"ground truth and prediction differ in size: {gt.size} vs {pred.size} pixels")
  keep = np.ones(gt.shape, bool) if ignore_index is None else gt != ignore_index
  gt, pred = gt[keep].astype(np.int64), pred[keep].astype(np.int64)
  if gt.size and (gt.min() < 0 or gt.max() >= num_classes):
    raise ValueError(f"ground-truth id {int(gt.max())} outside 0..{num_classes - 1} (and not ignore_index)")
  if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
    raise ValueError(f"predicted id {int(pred.max())} outside 0..{num_classes - 1}")
  return np.bincount(gt * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def scores(conf: np.ndarray) -> dict:
  """mIoU, pixel accuracy and per-class IoU (NaN for classes absent from both) from a confusion matrix."""
  conf = np.asarray(conf, np.float64)
  tp = np.diag(conf)
  union = conf.sum(0) + conf.sum(1) - tp
  with np.errstate(invalid="ignore", divide="ignore"):
    iou = np.where(union > 0, tp / union, np.nan)
  total = conf.sum()
  return {"miou": float(np.nanmean(iou)) if np.any(union > 0) else float("nan"),
          "pixel_acc": float(tp.sum() / total) if total else float("nan"),
          "iou_per_class": iou.tolist()}
