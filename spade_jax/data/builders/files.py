"""tfds builders for datasets of files the user downloaded: Cityscapes, ADE20K, COCO-Stuff, folder.

They differ only in how files are found (`spade_jax.data.layouts`); the builder receives the
validated samples and stores their bytes. RGB label maps (folder, label_format rgb) are converted
to id PNGs through the colour table here, once.
"""

from __future__ import annotations

import os

from spade_jax.data import decoding
from spade_jax.data.builders.base import SpadeBuilder
from spade_jax.data.colors import ColorTable
from spade_jax.data.layouts import Sample


class FilesBuilder(SpadeBuilder, skip_registration=True):

  def __init__(self, *, samples: dict[str, list[Sample]], color_table: ColorTable | None = None,
               **kw):
    self._samples = samples
    self._color_table = color_table
    super().__init__(**kw)

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(samples) for split, samples in self._samples.items()}

  def _label_bytes(self, path: str) -> bytes:
    if self.spec.label.label_format != "rgb":
      with open(path, "rb") as f:
        return f.read()
    ids, _ = self._color_table.to_ids(decoding.rgb_array(decoding.open_image(path)))
    return decoding.encode_png(ids)

  def _generate_examples(self, samples: list[Sample]):
    for i, s in enumerate(samples):
      with open(s.image, "rb") as f:
        image = f.read()
      instance = b""
      if s.instance and not self.spec.label.no_instance:
        with open(s.instance, "rb") as f:
          instance = f.read()
      name = os.path.relpath(s.label, self.spec.data_dir)
      yield i, {"image": image, "label": self._label_bytes(s.label), "instance": instance,
                "name": name}


class SpadeCityscapes(FilesBuilder):
  DESCRIPTION = "Cityscapes gtFine labelIds + instanceIds + leftImg8bit (35 classes)."


class SpadeAde20k(FilesBuilder):
  DESCRIPTION = "ADE20K (ADEChallengeData2016): raw ids, 0 = other/don't-care, 1..150 classes."


class SpadeCocoStuff(FilesBuilder):
  DESCRIPTION = "COCO-Stuff stuffthingmaps (182 classes, 255 = unlabeled) with instance maps."


class SpadeFolder(FilesBuilder):
  DESCRIPTION = "User dataset: label / photo [/ instance] folders (official custom layout)."


BUILDERS = {"cityscapes": SpadeCityscapes, "ade20k": SpadeAde20k, "coco_stuff": SpadeCocoStuff,
            "folder": SpadeFolder}
