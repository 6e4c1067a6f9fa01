"""What every spade_jax tfds builder shares: features, record layout, ArrayRecord, fixed order.

A record holds the *encoded* files: `image` (JPEG/PNG bytes), `label` (PNG of class ids, raw ids
before the don't-care mapping), `instance` (PNG of instance ids, empty when none) and `name`.
Decoding happens in the input pipeline with `spade_jax.data.decoding`, so no TensorFlow is needed
to write or read. Examples keep the source order (`disable_shuffling`): eval order is file order.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from spade_jax.data.dataset import DatasetSpec

VERSION = "1.0.0"
FILE_FORMAT = "array_record"


def features() -> tfds.features.FeaturesDict:
  raw = lambda doc: tfds.features.Tensor(shape=(), dtype=np.object_, doc=doc)  # noqa: E731
  return tfds.features.FeaturesDict({
      "image": raw("encoded photo (JPEG or PNG bytes)"),
      "label": raw("PNG of class ids (8- or 16-bit grey, or palette indices)"),
      "instance": raw("PNG of instance ids (empty when the dataset has none)"),
      "name": tfds.features.Text(doc="source file or sample name"),
  })


class SpadeBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base: one builder config per `DatasetSpec` (its name is the spec's cache name)."""

  VERSION = tfds.core.Version(VERSION)
  DESCRIPTION = ""

  def __init__(self, *, spec: DatasetSpec, config_name: str, cache_dir: str):
    self.spec = spec
    super().__init__(data_dir=cache_dir, config=tfds.core.BuilderConfig(name=config_name),
                     file_format=FILE_FORMAT)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, description=self.DESCRIPTION, features=features(),
                                 disable_shuffling=True,
                                 metadata=tfds.core.MetadataDict(spec=self.spec.identity()))
