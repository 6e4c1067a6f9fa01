"""The input pipeline: prepared records → grain → numpy batches for one process.

`make_iterator(config, split)` yields dicts of numpy arrays with the per-process batch
`b = config.batch_size // process_count`:

  image     float32 [b, H, W, 3] in [-1, 1]
  label     int32   [b, H, W]    class ids, 255 already mapped to label_nc (don't-care)
  instance  int32   [b, H, W]    instance ids (zeros when data.no_instance)
  mask      bool    [b]          False for padding samples (eval only; always True in training)
  index     int32   [b]          record index in the split (-1 for padding)

Training: this process reads only its shard (records `process_index::process_count`, cut to equal
length), shuffles it every epoch, repeats forever, draws crop/flip per sample and drops the last
partial batch. Evaluation: records in file order, no flip, centred crop, each record exactly once;
the split is padded to a whole number of *global* batches with `mask=False` samples, so every
process yields the same number of full batches (global batch k holds records k*B .. k*B+B-1).
Everything is deterministic for a seed; the iterator has `get_state()` / `set_state()`.

One-hot + don't-care + edge channels are *not* built here: `labels.to_semantics` does it inside
jit, which measured far cheaper than shipping `[b, H, W, semantic_nc]` floats from the host (see
bench/input_pipeline.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Optional

import grain
import numpy as np

from spade_jax.data import builders, decoding, transforms
from spade_jax.data.dataset import DatasetSpec, spec_from_config
from spade_jax.data.synthetic import LABEL_NC as SYNTHETIC_LABEL_NC

_SPLIT_ALIASES = {"train": "train", "val": "val", "eval": "val", "validation": "val",
                  "test": "val"}


def _get(d, name, default):
  return d.get(name, default) if hasattr(d, "get") else getattr(d, name, default)


def geometry(config, train: bool) -> transforms.Geometry:
  """Preprocessing of `config.data`; at eval `resize_and_crop` loads at crop size (official test)."""
  d = config.data
  load = int(d.load_size)
  if not train and d.preprocess_mode == "resize_and_crop":
    load = int(d.crop_size)
  geo = transforms.Geometry(d.preprocess_mode, load, int(d.crop_size), float(d.aspect_ratio),
                            _get(d, "image_interpolation", "bicubic"))
  if transforms.output_size(geo) is None:
    raise ValueError(f"preprocess_mode {geo.preprocess_mode!r} keeps each image's own size, so "
                     "samples cannot be batched; use a *_crop mode or 'fixed'")
  return geo


@dataclasses.dataclass(frozen=True)
class SampleLoader:
  """Record index → transformed numpy sample (picklable, for grain worker processes)."""
  source: object
  geo: transforms.Geometry
  label_nc: int
  no_instance: bool
  train: bool
  flip: bool
  ade20k_shift: bool = False  # ADE20K "intended" ids: 0 → label_nc, k → k - 1

  def padding(self) -> dict:
    h, w = transforms.output_size(self.geo)
    return {"image": np.zeros((h, w, 3), np.float32), "label": np.zeros((h, w), np.int32),
            "instance": np.zeros((h, w), np.int32), "mask": np.bool_(False),
            "index": np.int32(-1)}

  def load(self, index: int, rng: Optional[np.random.Generator]) -> dict:
    if index >= len(self.source):
      return self.padding()
    rec = self.source[int(index)]
    image = decoding.rgb_array(decoding.open_image(rec["image"]))
    label = decoding.id_array(decoding.open_image(rec["label"]))
    instance = None
    if not self.no_instance and len(rec["instance"]):
      instance = decoding.id_array(decoding.open_image(rec["instance"]))
    params = transforms.draw_params(self.geo, label.shape[1], label.shape[0], rng, self.flip)
    out = transforms.transform_sample(self.geo, image, label, instance, params)
    lab = out["label"].astype(np.int32)
    if self.ade20k_shift:
      lab = np.where(lab == 0, self.label_nc, lab - 1)
    return {"image": transforms.normalize_image(out["image"]),
            "label": transforms.map_dontcare(lab, self.label_nc),
            "instance": (out["instance"].astype(np.int32) if instance is not None
                         else np.zeros(lab.shape, np.int32)),
            "mask": np.bool_(True), "index": np.int32(index)}

  def __call__(self, index, rng=None):
    return self.load(index, rng)


def _processes(process_index, process_count) -> tuple[int, int]:
  if process_index is None or process_count is None:
    import jax  # only when the caller did not say: keeps the pipeline usable without JAX
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index {process_index} not in [0, {process_count})")
  return process_index, process_count


def prepared_dir(config, spec: Optional[DatasetSpec] = None) -> str:
  """Prepares (first use) or finds the records of `config.data`; returns their directory."""
  spec = spec or spec_from_config(config)
  return builders.prepare(spec, cache_dir=_get(config.data, "cache_dir", "") or None,
                          workers=int(_get(config.data, "prepare_workers", 0)))


def make_dataset(config, split: str, *, process_index: int, process_count: int,
                 seed: Optional[int] = None) -> grain.MapDataset:
  """The grain `MapDataset` of batches behind `make_iterator` (before threads / processes)."""
  split = _SPLIT_ALIASES.get(split, split)
  if split not in ("train", "val"):
    raise ValueError(f"split must be train or val (or eval/validation/test), got {split!r}")
  if config.batch_size % process_count:
    raise ValueError(f"batch_size {config.batch_size} is not divisible by process_count "
                     f"{process_count}")
  b = config.batch_size // process_count
  spec = spec_from_config(config)
  if spec.format == "synthetic" and spec.label.label_nc < SYNTHETIC_LABEL_NC:
    raise ValueError(f"the synthetic dataset has {SYNTHETIC_LABEL_NC} classes: set "
                     f"data.label_nc={SYNTHETIC_LABEL_NC} (got {spec.label.label_nc})")
  source = builders.open_split(prepared_dir(config, spec), split)
  train = split == "train"
  loader = SampleLoader(source, geometry(config, train), spec.label.label_nc,
                        spec.label.no_instance, train, train and not config.data.no_flip,
                        spec.format == "ade20k" and bool(_get(config.data, "ade20k_shift_labels",
                                                              False)))
  seed = int(config.seed if seed is None else seed)
  n = len(source)
  if train:
    per = n // process_count
    if per < b:
      raise ValueError(f"train split has {n} samples: {per} per process, fewer than the "
                       f"per-process batch {b}")
    ds = grain.MapDataset.range(n)[process_index::process_count][:per]
    ds = ds.shuffle(seed=seed).repeat().random_map(loader, seed=seed + 1)
    return ds.batch(b, drop_remainder=True)
  total = math.ceil(n / config.batch_size) * config.batch_size
  ds = grain.MapDataset.range(total)[process_index::process_count].map(loader)
  return ds.batch(b, drop_remainder=True)


def make_iterator(config, split: str, *, process_index: Optional[int] = None,
                  process_count: Optional[int] = None, seed: Optional[int] = None):
  """Checkpointable iterator of numpy batches for this process (see the module docstring).

  Reads `config.batch_size`, `config.seed` and `config.data.*`; optional fields:
  `data.num_workers` (grain worker processes, default 0 = threads only in this process),
  `data.num_threads` (default: cores), `data.prefetch` (batches buffered, default 4).
  """
  process_index, process_count = _processes(process_index, process_count)
  if config.data.name == "fake":  # deterministic generated batches (tests, benchmarks, smoke runs)
    from spade_jax.data.fake import FakeIterator
    return FakeIterator(config, split, process_index=process_index, process_count=process_count, seed=seed)
  ds = make_dataset(config, split, process_index=process_index, process_count=process_count,
                    seed=seed)
  d = config.data
  threads = int(_get(d, "num_threads", 0)) or os.cpu_count() or 1
  it_ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=threads,
                                               prefetch_buffer_size=int(_get(d, "prefetch", 4))))
  workers = int(_get(d, "num_workers", 0))
  if workers > 0:
    from absl import flags  # grain's worker processes read absl flags: parse them if nobody did
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    it_ds = it_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
  return iter(it_ds)


def global_batch(batch: dict, sharding) -> dict:
  """Assembles the global `jax.Array` batch from every process's numpy batch (multi-host)."""
  import jax
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)
