"""tfds builder of the embedded synthetic landscapes: rendered on this machine, nothing downloaded.

Samples are rendered in worker processes (all cores) and written in index order, so the records
are the same for the same spec on any machine and with any number of workers.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

from spade_jax.data.builders.base import SpadeBuilder
from spade_jax.data.synthetic import render_records

_CHUNK = 8


class SpadeSynthetic(SpadeBuilder):
  DESCRIPTION = ("Procedural landscapes (10 classes: sky, cloud, mountain, snow, hill, water, sand, "
                 "grass, tree, rock), instance maps for clouds, trees and rocks, photos rendered "
                 "with a per-image time of day, season and haze.")

  def __init__(self, *, workers: int = 0, **kw):
    self._workers = workers or os.cpu_count() or 1
    super().__init__(**kw)

  def _split_generators(self, dl_manager):
    del dl_manager
    syn = self.spec.synthetic
    return {"train": self._generate_examples("train", syn.num_train),
            "val": self._generate_examples("val", syn.num_val)}

  def _generate_examples(self, split: str, n: int):
    syn = self.spec.synthetic
    jobs = [(syn.seed, split, a, min(n, a + _CHUNK), syn.size) for a in range(0, n, _CHUNK)]
    if self._workers <= 1 or n <= 2 * _CHUNK:
      chunks = map(render_records, jobs)
      yield from ((i, r) for i, r in enumerate(r for c in chunks for r in c))
      return
    ctx = multiprocessing.get_context("spawn")  # safe when the caller has started JAX threads
    with concurrent.futures.ProcessPoolExecutor(self._workers, mp_context=ctx) as ex:
      i = 0
      for chunk in ex.map(render_records, jobs):
        for r in chunk:
          yield i, r
          i += 1
