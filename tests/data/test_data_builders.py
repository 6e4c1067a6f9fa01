"""tfds builders: ArrayRecord written and read without TensorFlow, cached, rebuilt when data change."""

import os
import sys

import numpy as np
from PIL import Image

import tiny_datasets as tiny
from spade_jax.data import builders, decoding
from spade_jax.data.dataset import DatasetSpec, SyntheticSpec
from spade_jax.data.validate import LabelSpec


def quiet(_):
  pass


def test_folder_build_read_and_cache(tmp_path):
  root = tiny.folder_dataset(tmp_path / "ds")
  spec = DatasetSpec("folder", root, LabelSpec(3))
  cache = str(tmp_path / "cache")
  path = builders.prepare(spec, cache_dir=cache, log=quiet)
  assert sorted(builders.split_names(path)) == ["train", "val"]
  src = builders.open_split(path, "train")
  assert len(src) == 3
  rec = src[0]
  assert rec["name"].decode() == os.path.join("train_label", "train000.png")
  with open(os.path.join(root, "train_label", "train000.png"), "rb") as f:
    assert rec["label"] == f.read()  # id PNGs are stored as they are
  assert decoding.rgb_array(decoding.open_image(rec["image"])).shape == (6, 8, 3)
  assert "tensorflow" not in sys.modules
  assert builders.prepare(spec, cache_dir=cache, log=quiet) == path  # cached
  tiny.write(os.path.join(root, "train_label", "train000.png"), value=1)  # edited data: rebuild
  assert builders.prepare(spec, cache_dir=cache, log=quiet) != path


def test_rgb_labels_are_stored_as_ids(tmp_path):
  root = tiny.folder_dataset(tmp_path / "ds", n=(2, 0), instance=False)
  colours = np.array([[0, 0, 0], [255, 0, 0], [0, 0, 255]], np.uint8)
  for i in range(2):
    tiny.write(f"{root}/train_label/train{i:03d}.png", colours[tiny.ids(seed=i)])
  spec = DatasetSpec("folder", root, LabelSpec(3, no_instance=True, label_format="rgb"))
  path = builders.prepare(spec, cache_dir=str(tmp_path / "cache"), log=quiet)
  ids = decoding.id_array(decoding.open_image(builders.open_split(path, "train")[1]["label"]))
  # Inferred table in sorted colour order: black 0, blue 1, red 2 (source ids: red 1, blue 2).
  src = tiny.ids(seed=1)
  np.testing.assert_array_equal(ids, np.choose(src, [0, 2, 1]))


def test_synthetic_build_is_deterministic(tmp_path):
  spec = DatasetSpec("synthetic", str(tmp_path / "a"), LabelSpec(10),
                     synthetic=SyntheticSpec(3, 2, 32, 7))
  a = builders.prepare(spec, log=quiet)
  b = builders.prepare(DatasetSpec("synthetic", str(tmp_path / "b"), LabelSpec(10),
                                   synthetic=SyntheticSpec(3, 2, 32, 7)), log=quiet)
  ra, rb = builders.open_split(a, "val")[1], builders.open_split(b, "val")[1]
  assert ra["image"] == rb["image"] and ra["label"] == rb["label"]


def test_cityscapes_sample_builds(shared_dir, tmp_path):
  spec = DatasetSpec("cityscapes", str(shared_dir / "data" / "cityscapes_sample"), LabelSpec(35))
  path = builders.prepare(spec, cache_dir=str(tmp_path / "cache"), log=quiet)
  assert builders.split_names(path) == ["train"]  # the val maps have no photos: label-only
  rec = builders.open_split(path, "train")[0]
  inst = decoding.id_array(decoding.open_image(rec["instance"]))
  assert inst.dtype == np.int32 and inst.max() > 26000  # 16-bit ids kept (labelId * 1000 + k)


def test_coco_instance_maps_from_annotations(tmp_path):
  import json
  from spade_jax.data import coco_instances
  label = np.full((10, 12), 7, np.uint8)
  tiny.write(tmp_path / "labels" / "000000000042.png", label)
  anns = {"images": [{"id": 42, "file_name": "000000000042.jpg"}],
          "annotations": [
              {"image_id": 42, "iscrowd": 0, "segmentation": [[3, 3, 8, 3, 8, 8, 3, 8]]},
              {"image_id": 42, "iscrowd": 1, "segmentation": {"counts": [1], "size": [10, 12]}},
              {"image_id": 42, "iscrowd": 0, "segmentation": [[10, 1, 12, 1, 12, 3, 10, 3]]}]}
  (tmp_path / "ann.json").write_text(json.dumps(anns))
  assert coco_instances.main(["--annotations", str(tmp_path / "ann.json"), "--labels",
                              str(tmp_path / "labels"), "--out", str(tmp_path / "inst")]) == 0
  inst = np.asarray(Image.open(tmp_path / "inst" / "000000000042.png"))
  assert inst.dtype == np.uint8 and inst[0, 0] == 7  # starts from the label map
  assert inst[4, 4] == 0 and inst[2, 10] == 1  # counter per (non-crowd) annotation, shifted by -1
