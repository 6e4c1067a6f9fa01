"""Command-line plumbing shared by `inspect` and `prepare`: dataset flags and clean failures."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Callable

from spade_jax import errors
from spade_jax.data.dataset import FORMAT_ALIASES, DatasetSpec, SyntheticSpec, spec_from_flags
from spade_jax.data.layouts import FORMATS
from spade_jax.data.problems import DataError
from spade_jax.data.validate import LABEL_FORMATS


def add_dataset_flags(p: argparse.ArgumentParser) -> None:
  errors.add_verbose_flag(p)
  p.add_argument("--format", required=True, choices=FORMATS + tuple(FORMAT_ALIASES))
  p.add_argument("--data-dir", required=True,
                 help="dataset root (synthetic: where it is prepared)")
  p.add_argument("--label-nc", type=int, default=None,
                 help="number of classes (default: the format's official value; required for "
                      "folder). Giving it makes --contain-dontcare-label / --no-instance literal")
  p.add_argument("--contain-dontcare-label", action="store_true",
                 help="label 255 is don't-care (mapped to label_nc, its own channel)")
  p.add_argument("--no-instance", action="store_true", help="the dataset has no instance maps")
  p.add_argument("--label-dir", default="", help="folder: label folder ({split} = split name)")
  p.add_argument("--image-dir", default="", help="folder: photo folder")
  p.add_argument("--instance-dir", default="", help="folder: instance map folder")
  p.add_argument("--label-format", default="ids", choices=LABEL_FORMATS,
                 help="ids: grey id PNGs; palette: palette indices are ids; rgb: colours mapped "
                      "by --color-table (inferred when not given)")
  p.add_argument("--color-table", default="", help="file of 'id r g b [name]' lines")
  p.add_argument("--coco-no-portraits", action="store_true")
  p.add_argument("--synthetic-size", type=int, nargs=3, metavar=("TRAIN", "VAL", "RES"),
                 default=None, help="synthetic: images per split and resolution")
  p.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")


def spec_from_args(a: argparse.Namespace) -> DatasetSpec:
  spec = spec_from_flags(a.format, a.data_dir, a.label_nc, a.contain_dontcare_label, a.no_instance,
                         a.label_format, a.color_table, label_dir=a.label_dir,
                         image_dir=a.image_dir, instance_dir=a.instance_dir,
                         coco_no_portraits=a.coco_no_portraits)
  if a.synthetic_size:
    spec = dataclasses.replace(spec, synthetic=SyntheticSpec(*a.synthetic_size))
  return spec


def run(main: Callable[[], int]) -> None:
  """Runs a data tool's main: data problems are one line each (exit 1); other user errors one line
  (exit 2); a bug keeps its traceback (see `spade_jax.errors`)."""
  def body(argv):
    try:
      return main()
    except DataError as e:
      if errors.verbose_requested("--verbose" in sys.argv[1:]):
        raise
      print(str(e), file=sys.stderr)
      return 1
  errors.run_main(body)
