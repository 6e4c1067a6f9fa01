"""Validates a whole dataset (source files or prepared records) into a `Report` and prints it.

`inspect` prints the report; the builders refuse a dataset whose report has problems, with the
same lines.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np

from spade_jax.data import validate
from spade_jax.data.colors import ColorTable
from spade_jax.data.dataset import DatasetSpec
from spade_jax.data.layouts import Sample
from spade_jax.data.problems import Problem


@dataclasses.dataclass
class Report:
  spec: DatasetSpec
  layout: str
  splits: dict[str, validate.SplitReport] = dataclasses.field(default_factory=dict)
  problems: list[Problem] = dataclasses.field(default_factory=list)
  notes: list[str] = dataclasses.field(default_factory=list)
  color_table: Optional[ColorTable] = None  # rgb labels: the table used (given or inferred)
  samples: dict[str, list[Sample]] = dataclasses.field(default_factory=dict)  # buildable splits

  @property
  def ok(self) -> bool:
    return not self.problems

  def histogram(self) -> collections.Counter:
    total = collections.Counter()
    for s in self.splits.values():
      total.update(s.counts)
    return total

  def summary(self, class_names: Sequence[str] = ()) -> list[str]:
    spec = self.spec
    lab = spec.label
    lines = [f"dataset: {spec.format} at {spec.data_dir or '(cache)'}",
             f"layout: {self.layout}",
             f"labels: label_nc={lab.label_nc}, contain_dontcare_label={lab.contain_dontcare_label}, "
             f"no_instance={lab.no_instance}, label_format={lab.label_format}"]
    for name, s in self.splits.items():
      sizes = ", ".join(f"{w}x{h} ({n})" for (w, h), n in s.sizes.most_common(3))
      more = f", +{len(s.sizes) - 3} other sizes" if len(s.sizes) > 3 else ""
      kind = " (label-only)" if s.label_only else ""
      lines.append(f"split {name}{kind}: {s.count} samples; sizes {sizes or '-'}{more}")
    hist = self.histogram()
    total = sum(hist.values())
    if total:
      def cname(i):
        if (i == lab.label_nc and lab.contain_dontcare_label) or i == 255:
          return "don't-care"
        return class_names[i] if i < len(class_names) else ""
      lines.append("label histogram (id name: % of pixels):")
      cells = [f"{i:>4} {cname(i)[:14]:<14} {100.0 * n / total:6.2f}%"
               for i, n in sorted(hist.items())]
      lines += ["  " + "   ".join(cells[k:k + 4]) for k in range(0, len(cells), 4)]
      train = self.splits.get("train")
      seen = set((train.counts if train and train.counts else hist))
      unseen = [i for i in range(lab.label_nc) if i not in seen]
      where = "train" if train and train.counts else "all splits"
      lines.append(f"classes never seen ({where}): " + (_ranges(unseen) if unseen else "none"))
    if self.color_table is not None and not spec.color_table:
      lines.append("inferred colour table (save it and pass it as color_table to pin the ids):")
      lines += ["  " + ln for ln in self.color_table.describe().splitlines()]
    lines += [f"note: {n}" for n in self.notes]
    return lines


def _ranges(ids: list[int]) -> str:
  out, start = [], None
  for a, b in zip(ids, ids[1:] + [None]):
    start = a if start is None else start
    if b != a + 1:
      out.append(str(start) if start == a else f"{start}-{a}")
      start = None
  return ", ".join(out)


def _finish_colours(report: Report) -> None:
  """rgb labels without a given table: infer it and turn colour counts into id counts."""
  spec = report.spec
  colours = set()
  for s in report.splits.values():
    colours |= set(s.counts)
  table = ColorTable.infer(colours)
  report.color_table = table
  if len(table.keys) > spec.label.num_ids:
    report.problems.append(Problem(spec.data_dir, f"{len(table.keys)} distinct label colours but "
                                   f"label_nc={spec.label.label_nc}: raise label_nc or give a "
                                   "colour table"))
  lut = dict(zip(table.keys, table.ids))
  for s in report.splits.values():
    s.counts = collections.Counter({lut[k]: n for k, n in s.counts.items()})


def report_files(spec: DatasetSpec, workers: int = 0) -> Report:
  """Discovers and checks every source file of a real-data format."""
  disc = spec.discover()
  report = Report(spec, disc.layout, problems=list(disc.problems), notes=list(disc.notes))
  for name, split in disc.splits.items():
    sr = validate.SplitReport(label_only=split.label_only)
    validate.merge(validate.check_samples(split.samples, spec.label, workers), sr, report.problems)
    report.splits[name] = sr
    if not split.label_only:
      report.samples[name] = split.samples
  if spec.label.label_format == "rgb":
    if spec.label.color_table is None:
      _finish_colours(report)
    else:
      report.color_table = spec.label.color_table
  return report


def report_records(spec: DatasetSpec, where: str, splits: dict[str, Sequence[dict]],
                   progress: Callable[[str], None] = lambda s: None) -> Report:
  """Checks prepared records (dicts of encoded `image`, `label`, `instance` bytes and `name`)."""
  report = Report(spec, f"prepared records at {where}")
  for name, records in splits.items():
    sr = validate.SplitReport()
    if len(records) == 0:
      report.problems.append(Problem(f"{where} [{name}]", f"empty split '{name}': no records"))
    results = []
    for i in range(len(records)):
      r = records[i]
      tag = f"{where} [{name} #{i} {_text(r.get('name', b''))}]"
      inst = r.get("instance", b"")
      results.append(validate.check(
          (tag + " label", r["label"]), (tag + " photo", r["image"]),
          None if spec.label.no_instance or not len(inst) else (tag + " instance", inst),
          spec.label))
      if i % 500 == 499:
        progress(f"{name}: checked {i + 1}/{len(records)}")
    validate.merge(results, sr, report.problems)
    report.splits[name] = sr
  return report


def _text(v) -> str:
  return v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v)
