"""`make_iterator`: batch layout, determinism, per-process shards, eval padding, iterator state."""

import ml_collections
import numpy as np
import pytest

import tiny_datasets as tiny
from spade_jax.configs.spade.default import get_config
from spade_jax.data import pipeline


@pytest.fixture(scope="module")
def syn_config(tmp_path_factory):
  c = get_config()
  d = c.data
  d.name, d.data_dir, d.label_nc = "synthetic", str(tmp_path_factory.mktemp("syn")), 10
  d.synthetic_train_size, d.synthetic_val_size, d.synthetic_resolution = 16, 5, 32
  d.load_size, d.crop_size = 36, 32
  d.num_threads = 1
  c.batch_size = 4
  return c


def take(it, n):
  return [next(it) for _ in range(n)]


def test_train_batches(syn_config):
  it = pipeline.make_iterator(syn_config, "train", process_index=0, process_count=1)
  b = next(it)
  assert b["image"].shape == (4, 32, 32, 3) and b["image"].dtype == np.float32
  assert -1.0 <= b["image"].min() and b["image"].max() <= 1.0
  assert b["label"].shape == (4, 32, 32) and b["label"].dtype == np.int32
  assert b["instance"].shape == (4, 32, 32) and b["instance"].dtype == np.int32
  assert b["label"].max() < 10 and b["instance"].max() >= 1000
  assert b["mask"].all()
  # 16 samples / 4 = 4 batches an epoch; one epoch holds every sample once; epochs differ.
  rest = take(it, 7)
  first = np.concatenate([b["index"]] + [x["index"] for x in rest[:3]])
  second = np.concatenate([x["index"] for x in rest[3:]])
  assert sorted(first) == list(range(16)) == sorted(second)
  assert not np.array_equal(first, second)


def test_deterministic_and_restorable(syn_config):
  a = take(pipeline.make_iterator(syn_config, "train", process_index=0, process_count=1), 3)
  it = pipeline.make_iterator(syn_config, "train", process_index=0, process_count=1)
  b = take(it, 1)
  state = it.get_state()
  b += take(it, 2)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x["image"], y["image"])
    np.testing.assert_array_equal(x["label"], y["label"])
  it2 = pipeline.make_iterator(syn_config, "train", process_index=0, process_count=1)
  it2.set_state(state)
  np.testing.assert_array_equal(next(it2)["image"], b[1]["image"])
  other = next(pipeline.make_iterator(syn_config, "train", process_index=0, process_count=1,
                                      seed=123))
  assert not np.array_equal(other["index"], a[0]["index"])


def test_process_shards_are_disjoint(syn_config):
  seen = []
  for p in range(2):
    it = pipeline.make_iterator(syn_config, "train", process_index=p, process_count=2)
    batches = take(it, 4)  # 8 samples per process, per-process batch 2: one epoch
    assert batches[0]["image"].shape[0] == 2
    seen.append(set(np.concatenate([x["index"] for x in batches]).tolist()))
  assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(16))


def test_eval_is_ordered_padded_and_complete(syn_config):
  ev = list(pipeline.make_iterator(syn_config, "val", process_index=0, process_count=1))
  assert [x["index"].tolist() for x in ev] == [[0, 1, 2, 3], [4, -1, -1, -1]]
  assert ev[1]["mask"].tolist() == [True, False, False, False]
  again = list(pipeline.make_iterator(syn_config, "val", process_index=0, process_count=1))
  np.testing.assert_array_equal(ev[0]["image"], again[0]["image"])
  per = [list(pipeline.make_iterator(syn_config, "val", process_index=p, process_count=2))
         for p in range(2)]
  assert len(per[0]) == len(per[1])  # same number of batches on every process
  idx = [i for batches in per for b in batches for i in b["index"].tolist() if i >= 0]
  assert sorted(idx) == list(range(5))


def test_no_instance_and_no_flip(syn_config):
  c = ml_collections.ConfigDict(syn_config.to_dict())
  c.data.no_instance, c.data.no_flip = True, True
  b = next(pipeline.make_iterator(c, "train", process_index=0, process_count=1))
  assert (b["instance"] == 0).all()


def test_folder_dataset_maps_dontcare(tmp_path):
  root = tiny.folder_dataset(tmp_path / "ds", n=(2, 1), label_nc=3)
  tiny.write(f"{root}/train_label/train000.png", value=255)
  c = get_config()
  d = c.data
  d.name, d.data_dir, d.label_nc, d.contain_dontcare_label = "folder", root, 3, True
  d.cache_dir = str(tmp_path / "cache")
  d.load_size, d.crop_size, d.preprocess_mode = 8, 8, "resize_and_crop"
  c.batch_size = 2
  ev = list(pipeline.make_iterator(c, "val", process_index=0, process_count=1))
  assert ev[0]["mask"].tolist() == [True, False]
  lab = next(pipeline.make_iterator(c, "train", process_index=0, process_count=1))["label"]
  assert 3 in lab and lab.max() == 3  # 255 became label_nc


def test_unbatchable_mode_is_refused(syn_config):
  c = ml_collections.ConfigDict(syn_config.to_dict())
  c.data.preprocess_mode = "scale_width"
  with pytest.raises(ValueError, match="cannot be batched"):
    pipeline.make_iterator(c, "train", process_index=0, process_count=1)


def test_global_batch_is_sharded_over_devices(syn_config):
  import jax
  from jax.sharding import Mesh, NamedSharding, PartitionSpec
  devices = jax.devices()[:4]
  mesh = Mesh(np.array(devices), ("data",))
  local = next(pipeline.make_iterator(syn_config, "train"))  # process index/count from JAX
  g = pipeline.global_batch(local, NamedSharding(mesh, PartitionSpec("data")))
  assert g["image"].shape == (4, 32, 32, 3)
  assert len(g["label"].sharding.device_set) == len(devices)
  np.testing.assert_array_equal(np.asarray(g["label"]), local["label"])


def test_ade20k_ids_official_and_shifted(tmp_path):
  root = tiny.ade20k(tmp_path / "ade")
  c = get_config()
  d = c.data
  d.name, d.data_dir, d.cache_dir = "ade20k", root, str(tmp_path / "cache")
  d.label_nc, d.contain_dontcare_label, d.no_instance = 150, True, True
  d.load_size, d.crop_size = 8, 8
  c.batch_size = 2
  raw = np.concatenate([b["label"] for b in pipeline.make_iterator(c, "val", process_index=0,
                                                                     process_count=1)])
  d.ade20k_shift_labels = True
  shifted = np.concatenate([b["label"] for b in pipeline.make_iterator(c, "val", process_index=0,
                                                                         process_count=1)])
  np.testing.assert_array_equal(shifted, np.where(raw == 0, 150, raw - 1))


def test_synthetic_needs_its_label_nc(syn_config):
  c = ml_collections.ConfigDict(syn_config.to_dict())
  c.data.label_nc = 5
  with pytest.raises(ValueError, match="data.label_nc=10"):
    pipeline.make_iterator(c, "train", process_index=0, process_count=1)
