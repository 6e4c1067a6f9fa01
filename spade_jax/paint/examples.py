"""Label maps for the page's "random example": the val split of the model's dataset (opened on the
first request), or a directory of label PNGs (`paint.py --examples DIR`, e.g. for an official
checkpoint whose dataset is not on this machine)."""

from __future__ import annotations

import os
import random
import threading
from typing import Optional

import numpy as np


class Examples:

  def __init__(self, config, directory: Optional[str] = None):
    self.config = config
    self.directory = directory
    self._source = None
    self._error: Optional[str] = None
    self._lock = threading.Lock()

  def _open(self):
    if self.directory:
      from spade_jax.evaluate.synthesize import list_label_files
      files = list_label_files(self.directory)
      return len(files), lambda i: _read(files[i], int(self.config.data.label_nc))
    import ml_collections
    c = ml_collections.ConfigDict(self.config.to_dict())
    c.batch_size = 1
    if c.data.name == "fake":
      from spade_jax.data.fake import FakeIterator
      it = FakeIterator(c, "val")
      return it.num_eval_batches, lambda i: it.global_batch(i)["label"][0]
    from spade_jax.data.pipeline import make_dataset
    ds = make_dataset(c, "val", process_index=0, process_count=1)
    return len(ds), lambda i: np.asarray(ds[i]["label"][0], np.int32)

  def get(self, index: Optional[int] = None) -> tuple[int, int, np.ndarray]:
    """(index, count, int32 [H, W] ids); ValueError with the reason when there are none."""
    with self._lock:
      if self._source is None and self._error is None:
        try:
          self._source = self._open()
        except Exception as e:  # noqa: BLE001 - any failure to open the data: said once, in one line
          where = f"--examples {self.directory}" if self.directory else f"the val split of data.name={self.config.data.name!r}"
          self._error = f"random example: {where} is not available ({type(e).__name__}: {e})"
      if self._error:
        raise ValueError(self._error)
      count, read = self._source
    if count == 0:
      raise ValueError("random example: the val split is empty")
    if index is None:
      index = random.randrange(count)
    if not 0 <= index < count:
      raise ValueError(f"index: {index} is outside 0..{count - 1}")
    return index, count, read(index)


def _read(path: str, label_nc: int) -> np.ndarray:
  from spade_jax.evaluate.synthesize import read_label_png
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: label file not found")
  return read_label_png(path, label_nc)
