"""A deterministic fake dataset (`data.name = "fake"`): for tests, benchmarks and smoke runs.

Global batch `k` is a pure function of `(seed, k)`; each process takes its rows, so any number of
processes sees the same global batches (the real pipeline shards *records* per process instead).
Label maps are blocky random layouts, photos a colour per class plus noise. It has the interface
of `spade_jax.data.pipeline.make_iterator` (`next`, `get_state`, `set_state`).

`data.fake_nan_at_step` (default -1) puts NaN into the photos of that batch: the non-finite guard's
test.
"""

from __future__ import annotations

import numpy as np


def _get(d, name, default):
  return d.get(name, default) if hasattr(d, "get") else getattr(d, name, default)


class FakeIterator:

  def __init__(self, config, split: str = "train", *, process_index: int = 0, process_count: int = 1,
               seed=None):
    d = config.data
    self.batch = int(config.batch_size)
    if self.batch % process_count:
      raise ValueError(f"batch_size {self.batch} is not divisible by process_count {process_count}")
    self.local = self.batch // process_count
    self.offset = process_index * self.local
    self.w = int(d.crop_size)
    self.h = int(round(d.crop_size / d.aspect_ratio))
    self.label_nc = int(d.label_nc)
    self.seed = int(config.seed if seed is None else seed) + (0 if split == "train" else 7919)
    self.nan_step = int(_get(d, "fake_nan_at_step", -1))
    self.train = split == "train"
    self.step = 0
    self.num_eval_batches = 2

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    if not self.train and self.step >= self.num_eval_batches:
      raise StopIteration
    b = self.global_batch(self.step)
    self.step += 1
    return {k: v[self.offset:self.offset + self.local] for k, v in b.items()}

  def global_batch(self, k: int) -> dict:
    rng = np.random.default_rng([self.seed, k])
    cell = 8
    gh, gw = -(-self.h // cell), -(-self.w // cell)
    coarse = rng.integers(0, self.label_nc, (self.batch, gh, gw))
    label = np.repeat(np.repeat(coarse, cell, 1), cell, 2)[:, :self.h, :self.w].astype(np.int32)
    inst = np.arange(gh * gw, dtype=np.int32).reshape(1, gh, gw).repeat(self.batch, 0)
    instance = np.repeat(np.repeat(inst, cell, 1), cell, 2)[:, :self.h, :self.w]
    colours = np.random.default_rng(self.seed).uniform(-0.8, 0.8, (self.label_nc + 1, 3))
    image = colours[label] + rng.normal(0, 0.1, label.shape + (3,))
    image = np.clip(image, -1, 1).astype(np.float32)
    if k == self.nan_step:
      image[:] = np.nan
    n = self.batch
    return {"image": image, "label": label, "instance": instance.astype(np.int32),
            "mask": np.ones((n,), bool), "index": (k * n + np.arange(n)).astype(np.int32)}

  def get_state(self) -> dict:
    return {"step": self.step}

  def set_state(self, state: dict):
    self.step = int(state["step"])
