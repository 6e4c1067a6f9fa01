"""Validation tool: walks every file of a dataset, prints a summary, names every problem.

    python -m spade_jax.data.inspect --format {synthetic,cityscapes,ade20k,coco,folder} \
        --data-dir DIR [--label-nc N] [--contain-dontcare-label] [--no-instance] [...]

Exit status: 0 when all is well; 1 with one line `FILE: cause` per problem (the same lines the
builders refuse a dataset with); 2 for unusable arguments. For `synthetic`, DIR is where the
dataset was prepared and every prepared record is checked.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

from spade_jax.data import builders, cli, report as report_lib
from spade_jax.data.dataset import DatasetSpec
from spade_jax.data.problems import Problem
from spade_jax.data.synthetic import CLASSES as SYNTHETIC_CLASSES

CITYSCAPES_CLASSES = (
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground",
    "road", "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail",
    "bridge", "tunnel", "pole", "polegroup", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "caravan", "trailer", "train",
    "motorcycle", "bicycle")
CLASS_NAMES = {"synthetic": SYNTHETIC_CLASSES, "cityscapes": CITYSCAPES_CLASSES}


def prepared_synthetic_dirs(data_dir: str) -> list[str]:
  if os.path.exists(os.path.join(data_dir, "dataset_info.json")):
    return [data_dir]
  pattern = os.path.join(data_dir, "spade_synthetic", "*", "*", "dataset_info.json")
  return sorted(os.path.dirname(p) for p in glob.glob(pattern))


def synthetic_reports(spec: DatasetSpec) -> list[report_lib.Report]:
  dirs = prepared_synthetic_dirs(spec.data_dir)
  if not dirs:
    r = report_lib.Report(spec, "synthetic (prepared records)")
    why = ("directory not found" if not os.path.isdir(spec.data_dir) else
           "no prepared synthetic dataset here (training prepares it on first use, or run "
           f"python -m spade_jax.data.prepare --format synthetic --data-dir {spec.data_dir})")
    r.problems.append(Problem(spec.data_dir, why))
    return [r]
  out = []
  for d in dirs:
    splits = {s: builders.open_split(d, s) for s in builders.split_names(d)}
    out.append(report_lib.report_records(spec, d, splits, progress=lambda m: print(m, flush=True)))
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m spade_jax.data.inspect", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  cli.add_dataset_flags(p)
  a = p.parse_args(argv)
  spec = cli.spec_from_args(a)
  reports = (synthetic_reports(spec) if spec.format == "synthetic"
             else [report_lib.report_files(spec, a.workers)])
  problems = []
  for r in reports:
    print("\n".join(r.summary(CLASS_NAMES.get(spec.format, ()))))
    problems += r.problems
  for prob in sorted(set(problems)):
    print(prob)
  n = sum(s.count for r in reports for s in r.splits.values())
  if problems:
    print(f"FAILED: {len(set(problems))} problem(s) in {spec.data_dir}", file=sys.stderr)
    return 1
  print(f"OK: {n} samples checked in {spec.data_dir}")
  return 0


def console() -> None:
  """`spade-inspect`: the same program as `python -m spade_jax.data.inspect`."""
  cli.run(main)


if __name__ == "__main__":
  console()
