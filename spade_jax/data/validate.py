"""Checks every sample of a dataset and summarises it; used by `inspect` and by the builders.

A sample is fine when its photo decodes, its label decodes as class ids (or colours of the colour
table), every id is valid for `label_nc` (255 only with the don't-care channel), photo / label /
instance map have the same size and the instance map is an integer map. Each failure is a
`Problem` line naming the file and the cause.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
from typing import Iterable, Optional, Union

import numpy as np

from spade_jax.data import decoding
from spade_jax.data.colors import ColorTable, pack
from spade_jax.data.layouts import Sample
from spade_jax.data.problems import Problem
from spade_jax.data.transforms import DONTCARE_RAW_ID

LABEL_FORMATS = ("ids", "palette", "rgb")
Source = Union[str, bytes]


@dataclasses.dataclass(frozen=True)
class LabelSpec:
  """What a valid label map is."""
  label_nc: int
  contain_dontcare_label: bool = False
  no_instance: bool = False
  label_format: str = "ids"  # ids: grey id PNG; palette: ids = palette indices; rgb: colour table
  color_table: Optional[ColorTable] = None  # rgb: None = infer from the data

  def __post_init__(self):
    if self.label_format not in LABEL_FORMATS:
      raise ValueError(f"label_format {self.label_format!r} is not one of {LABEL_FORMATS}")
    if self.label_nc < 1:
      raise ValueError(f"label_nc must be >= 1, got {self.label_nc}")

  @property
  def num_ids(self) -> int:
    """Ids after the don't-care mapping are `0 .. num_ids - 1`."""
    return self.label_nc + int(self.contain_dontcare_label)

  def invalid_ids(self, ids: np.ndarray) -> np.ndarray:
    ok = ids < self.num_ids
    if self.contain_dontcare_label:
      ok |= ids == DONTCARE_RAW_ID
    return ids[~ok]

  def range_cause(self, bad: np.ndarray, pixels: int) -> str:
    shown = ", ".join(str(int(v)) for v in bad[:6]) + (", ..." if len(bad) > 6 else "")
    many = "s" if len(bad) > 1 else ""
    cause = f"label id{many} {shown} >= label_nc={self.label_nc} ({pixels} pixels)"
    if self.contain_dontcare_label:
      return cause + f"; valid: 0..{self.label_nc} and 255 (don't-care)"
    if DONTCARE_RAW_ID in bad:
      return cause + "; 255 is the don't-care id: set --contain-dontcare-label"
    return cause + f"; valid: 0..{self.label_nc - 1}"


@dataclasses.dataclass
class SampleResult:
  problems: list[Problem]
  size: Optional[tuple[int, int]] = None  # (width, height) of the label map
  counts: Optional[dict[int, int]] = None  # id (or packed colour for inferred tables) -> pixels


def decode_label(src: Source, spec: LabelSpec) -> tuple[np.ndarray, Optional[str]]:
  """Label ids (int) of a label file, or (colours, None) for an inferred colour table.

  Returns (array, cause); `cause` is a problem text when the label cannot be used.
  """
  img = decoding.open_image(src)
  if spec.label_format == "rgb":
    rgb = decoding.rgb_array(img)
    if spec.color_table is None:
      return rgb, None
    ids, missing = spec.color_table.to_ids(rgb)
    return ids, (None if missing is None else f"colour {missing} is not in the colour table")
  allowed = decoding.ID_MODES + (("P",) if spec.label_format == "palette" else ())
  if img.mode not in allowed:
    kind = "palette" if img.mode == "P" else "RGB" if img.mode.startswith("RGB") else img.mode
    hint = ("label_format 'palette' (ids = palette indices) or 'rgb' with a colour table"
            if spec.label_format == "ids" else "a palette PNG or label_format 'rgb'")
    return None, f"{kind} label (mode {img.mode}) where class ids are expected; use {hint}"
  return decoding.id_array(img), None


def _count(arr: np.ndarray) -> dict[int, int]:
  if arr.dtype == np.uint8:
    c = np.bincount(arr.ravel(), minlength=256)
    return {int(i): int(c[i]) for i in np.nonzero(c)[0]}
  vals, cnt = np.unique(arr, return_counts=True)
  return dict(zip(vals.tolist(), cnt.tolist()))


def check(label: tuple[str, Source], image: Optional[tuple[str, Source]],
          instance: Optional[tuple[str, Source]], spec: LabelSpec) -> SampleResult:
  """Checks one sample; each argument is (name used in messages, path or bytes)."""
  res = SampleResult([])
  lname, lsrc = label
  try:
    arr, cause = decode_label(lsrc, spec)
  except decoding.DecodeError as e:
    arr, cause = None, str(e)
  if cause:
    res.problems.append(Problem(lname, cause))
  if arr is not None and not cause:
    res.size = (arr.shape[1], arr.shape[0])
    if spec.label_format == "rgb" and spec.color_table is None:
      res.counts = _count(pack(arr))
    else:
      res.counts = _count(arr)
      bad = spec.invalid_ids(np.asarray(sorted(res.counts)))
      if len(bad):
        pixels = sum(res.counts[int(b)] for b in bad)
        res.problems.append(Problem(lname, spec.range_cause(bad, pixels)))
  for what, item in (("photo", image), ("instance map", instance)):
    if item is None:
      continue
    name, src = item
    try:
      img = decoding.open_image(src)
    except decoding.DecodeError as e:
      res.problems.append(Problem(name, str(e)))
      continue
    if what == "instance map" and img.mode not in decoding.ID_MODES + ("P",):
      res.problems.append(Problem(name, f"instance map of mode {img.mode}; expected integer ids "
                                  "(8- or 16-bit grey PNG)"))
    elif res.size is not None and img.size != res.size:
      res.problems.append(Problem(name, f"{what} size {img.size[0]}x{img.size[1]} differs from its "
                                  f"label map's {res.size[0]}x{res.size[1]} ({lname})"))
  return res


def check_sample(sample: Sample, spec: LabelSpec) -> SampleResult:
  inst = None if spec.no_instance or sample.instance is None else (sample.instance, sample.instance)
  img = None if sample.image is None else (sample.image, sample.image)
  return check((sample.label, sample.label), img, inst, spec)


def _check_chunk(args):
  samples, spec = args
  return [check_sample(s, spec) for s in samples]


def check_samples(samples: list[Sample], spec: LabelSpec, workers: int = 0) -> list[SampleResult]:
  """`check_sample` over many samples, in `workers` processes (0: all cores) when worth it."""
  workers = workers or os.cpu_count() or 1
  if workers <= 1 or len(samples) < 64:
    return [check_sample(s, spec) for s in samples]
  chunks = [samples[i:i + 16] for i in range(0, len(samples), 16)]
  ctx = multiprocessing.get_context("spawn")  # safe when the caller has started JAX threads
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as ex:
    return [r for rs in ex.map(_check_chunk, [(c, spec) for c in chunks]) for r in rs]


@dataclasses.dataclass
class SplitReport:
  count: int = 0
  label_only: bool = False
  sizes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)


def merge(results: Iterable[SampleResult], report: SplitReport, problems: list[Problem]) -> None:
  for r in results:
    problems.extend(r.problems)
    report.count += 1
    if r.size:
      report.sizes[r.size] += 1
    if r.counts:
      report.counts.update(r.counts)
