"""`DatasetSpec`: everything that defines one prepared dataset, from a config or from CLI flags.

The spec names the source (format + directory + folder layout), the label semantics (`LabelSpec`)
and, for `synthetic`, the generator settings. Two specs that are equal give the same prepared
dataset; its cache folder name is derived from it (`cache_name`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Optional

from spade_jax.data import layouts
from spade_jax.data.colors import load_color_table
from spade_jax.data.validate import LabelSpec

FORMAT_ALIASES = {"coco": "coco_stuff"}
# Official per-dataset settings (NVlabs/SPADE `data/<dataset>_dataset.py`, `modify_commandline_options`): used by `inspect` when --label-nc is not given.
PRESETS = {
    "synthetic": {"label_nc": 10, "contain_dontcare_label": False, "no_instance": False},
    "cityscapes": {"label_nc": 35, "contain_dontcare_label": False, "no_instance": False},
    "ade20k": {"label_nc": 150, "contain_dontcare_label": True, "no_instance": True},
    "coco_stuff": {"label_nc": 182, "contain_dontcare_label": True, "no_instance": False},
}
SYNTHETIC_DEFAULTS = {"num_train": 2000, "num_val": 200, "size": 256, "seed": 0}


def canonical_format(name: str) -> str:
  fmt = FORMAT_ALIASES.get(name, name)
  if fmt not in layouts.FORMATS:
    raise ValueError(f"unknown dataset format {name!r}; expected one of "
                     f"{', '.join(layouts.FORMATS + tuple(FORMAT_ALIASES))}")
  return fmt


def default_cache_dir() -> str:
  return os.environ.get("SPADE_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                           "spade_jax")


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
  num_train: int = 2000
  num_val: int = 200
  size: int = 256  # square images of size x size
  seed: int = 0


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  format: str
  data_dir: str  # source files (real formats); for synthetic: where it is prepared ("" = cache)
  label: LabelSpec
  label_dir: str = ""  # folder format: label / photo / instance folders ({split} = split name)
  image_dir: str = ""
  instance_dir: str = ""
  color_table: str = ""  # path of a colour table (label_format rgb); "" = infer
  coco_no_portraits: bool = False
  synthetic: SyntheticSpec = SyntheticSpec()

  def discover(self) -> layouts.Discovery:
    return layouts.discover(self.format, self.data_dir, no_instance=self.label.no_instance,
                            label_dir=self.label_dir, image_dir=self.image_dir,
                            instance_dir=self.instance_dir,
                            coco_no_portraits=self.coco_no_portraits)

  def identity(self) -> dict[str, Any]:
    """What determines the prepared records (not where they are cached)."""
    d = dataclasses.asdict(self)
    if self.format == "synthetic":  # records do not depend on label settings or location
      d.pop("data_dir")
      d.pop("label")
    else:
      d.pop("synthetic")
    return d

  def cache_name(self, fingerprint: str = "") -> str:
    blob = json.dumps(self.identity(), sort_keys=True) + fingerprint
    return f"{self.format}_{hashlib.sha1(blob.encode()).hexdigest()[:12]}"


def _get(cfg, name, default):
  return cfg.get(name, default) if hasattr(cfg, "get") else getattr(cfg, name, default)


def spec_from_config(config) -> DatasetSpec:
  """Reads `config.data` (ml_collections ConfigDict); optional fields default as documented."""
  d = config.data
  fmt = canonical_format(d.name)
  label_format = _get(d, "label_format", "ids")
  table_path = _get(d, "color_table", "")
  label = LabelSpec(int(d.label_nc), bool(d.contain_dontcare_label), bool(d.no_instance),
                    label_format, load_color_table(table_path) if table_path else None)
  syn = SyntheticSpec(int(_get(d, "synthetic_train_size", SYNTHETIC_DEFAULTS["num_train"])),
                      int(_get(d, "synthetic_val_size", SYNTHETIC_DEFAULTS["num_val"])),
                      int(_get(d, "synthetic_resolution", SYNTHETIC_DEFAULTS["size"])),
                      int(_get(d, "synthetic_seed", SYNTHETIC_DEFAULTS["seed"])))
  return DatasetSpec(fmt, os.path.expanduser(d.data_dir or ""), label,
                     _get(d, "label_dir", ""), _get(d, "image_dir", ""),
                     _get(d, "instance_dir", ""), table_path,
                     bool(_get(d, "coco_no_portraits", False)), syn)


def spec_from_flags(fmt: str, data_dir: str, label_nc: Optional[int], contain_dontcare: bool,
                    no_instance: bool, label_format: str = "ids", color_table: str = "",
                    **folder) -> DatasetSpec:
  """The CLI's view: without `label_nc`, the format's official preset applies."""
  fmt = canonical_format(fmt)
  if label_nc is None:
    if fmt not in PRESETS:
      raise ValueError(f"--label-nc is required for the {fmt} format")
    preset = PRESETS[fmt]
    label_nc, contain_dontcare = preset["label_nc"], preset["contain_dontcare_label"]
    no_instance = no_instance or preset["no_instance"]
  label = LabelSpec(label_nc, contain_dontcare, no_instance, label_format,
                    load_color_table(color_table) if color_table else None)
  return DatasetSpec(fmt, data_dir, label, color_table=color_table, **folder)
