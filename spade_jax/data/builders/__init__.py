"""Preparing datasets as tfds ArrayRecord builders, and opening them without TensorFlow.

`prepare(spec)` validates the source (refusing bad data with one line per problem, the same lines
as `inspect`), builds the records once into the cache and returns their directory; later calls
find them by name (the spec, plus a fingerprint of the source files' sizes and times, so edited
data is rebuilt). `open_split(dir, split)` is a random-access source for grain.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Callable, Optional

import tensorflow_datasets as tfds

from spade_jax.data.builders.base import SpadeBuilder
from spade_jax.data.builders.files import BUILDERS
from spade_jax.data.builders.synthetic import SpadeSynthetic
from spade_jax.data.dataset import DatasetSpec, default_cache_dir
from spade_jax.data.layouts import Discovery
from spade_jax.data.problems import DataError
from spade_jax.data.report import report_files

logging.getLogger("absl").setLevel(logging.ERROR)  # tfds warns about every custom config


def fingerprint(disc: Discovery) -> str:
  """Changes when any source file is added, removed, resized or rewritten."""
  h = hashlib.sha1()
  for split, files in sorted(disc.splits.items()):
    for s in files.samples:
      for p in (s.label, s.image, s.instance):
        if p:
          st = os.stat(p)
          h.update(f"{split}|{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
  return h.hexdigest()


def _is_prepared(builder: SpadeBuilder) -> bool:
  return os.path.exists(os.path.join(os.fspath(builder.data_path), "dataset_info.json"))


def _build(builder: SpadeBuilder) -> None:
  """Writes the records; another process finishing the same build first is not an error. tfds's own
  console output ("Downloading and preparing dataset …" — nothing is downloaded — and its progress
  bars) is kept off the terminal: our caller says what is being prepared."""
  import contextlib
  import io

  import tensorflow_datasets as tfds
  tfds.disable_progress_bar()
  try:
    with contextlib.redirect_stdout(io.StringIO()):
      builder.download_and_prepare()
  except Exception:
    if not _is_prepared(builder):
      raise


def prepare(spec: DatasetSpec, cache_dir: Optional[str] = None, workers: int = 0,
            log: Callable[[str], None] = print) -> str:
  """Builds the dataset of `spec` unless already built; returns the prepared directory."""
  if spec.format == "synthetic":
    root = spec.data_dir or cache_dir or default_cache_dir()
    builder = SpadeSynthetic(spec=spec, config_name=spec.cache_name(), cache_dir=root,
                             workers=workers)
    if not _is_prepared(builder):
      syn = spec.synthetic
      log(f"spade_jax: preparing the synthetic dataset ({syn.num_train} train + {syn.num_val} val "
          f"images, {syn.size}x{syn.size}) in {builder.data_path} ...")
      _build(builder)
    return os.fspath(builder.data_path)
  root = cache_dir or default_cache_dir()
  disc = spec.discover()
  name = spec.cache_name(fingerprint(disc)) if not disc.problems else spec.cache_name("unbuilt")
  cls = BUILDERS[spec.format]
  probe = cls(spec=spec, config_name=name, cache_dir=root, samples={})
  if not disc.problems and _is_prepared(probe):
    return os.fspath(probe.data_path)
  log(f"spade_jax: checking every file of the {spec.format} dataset in {spec.data_dir} ...")
  report = report_files(spec, workers)
  if not report.ok:
    raise DataError(report.problems, header=f"{spec.format} dataset {spec.data_dir}: "
                    f"{len(report.problems)} problem(s); run python -m spade_jax.data.inspect for "
                    "a summary")
  if not report.samples:
    raise DataError([], header=f"{spec.data_dir}: no split with photos to build")
  builder = cls(spec=spec, config_name=name, cache_dir=root, samples=report.samples,
                color_table=report.color_table)
  log(f"spade_jax: writing {', '.join(f'{k}: {len(v)}' for k, v in report.samples.items())} "
      f"samples to {builder.data_path} ...")
  _build(builder)
  return os.fspath(builder.data_path)


def open_split(prepared_dir: str, split: str):
  """Random-access source of the records of one split (tfds data source; no TensorFlow)."""
  builder = tfds.builder_from_directory(prepared_dir)
  if split not in builder.info.splits:
    raise DataError([], header=f"{prepared_dir}: no split '{split}' (has: "
                    f"{', '.join(builder.info.splits)})")
  return builder.as_data_source(split=split)


def split_names(prepared_dir: str) -> list[str]:
  return list(tfds.builder_from_directory(prepared_dir).info.splits)
