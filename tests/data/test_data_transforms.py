"""Geometry as the official loader (NVlabs/SPADE `data/base_dataset.py`: `get_params`, `get_transform`): sizes per mode, shared crop/flip, interpolation."""

import numpy as np
import pytest

from spade_jax.data import transforms as T


def sample(w=40, h=30, seed=0):
  rng = np.random.default_rng(seed)
  img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
  lab = rng.integers(0, 5, (h, w), dtype=np.uint8)
  inst = (rng.integers(0, 3, (h, w)) * 1000 + 26).astype(np.int32)
  return img, lab, inst


@pytest.mark.parametrize("mode,load,crop,aspect,expected", [
    ("resize_and_crop", 36, 32, 1.0, (32, 32)),
    ("scale_width_and_crop", 40, 20, 1.0, (20, 20)),
    ("scale_shortside_and_crop", 30, 24, 1.0, (24, 24)),
    ("crop", 0, 16, 1.0, (16, 16)),
    ("fixed", 0, 32, 2.0, (16, 32)),
    ("none", 0, 0, 1.0, (32, 32)),  # 30x40 rounds to multiples of 32
    ("scale_width", 20, 0, 1.0, (15, 20)),
])
def test_output_sizes(mode, load, crop, aspect, expected):
  geo = T.Geometry(mode, load, crop, aspect)
  img, lab, inst = sample()
  p = T.draw_params(geo, 40, 30, np.random.default_rng(0), flip=True)
  out = T.transform_sample(geo, img, lab, inst, p)
  for k in ("image", "label", "instance"):
    assert out[k].shape[:2] == expected, k


def test_crop_range_and_centre_crop():
  geo = T.Geometry("resize_and_crop", 40, 32)
  assert T.scaled_size(geo, 100, 50) == (40, 40)
  xs = {T.draw_params(geo, 100, 50, np.random.default_rng(s), False).crop_x for s in range(200)}
  assert xs == set(range(9))  # randint(0, load - crop) inclusive
  assert T.draw_params(geo, 100, 50, None, True) == T.Params(4, 4, False)  # eval: centred, no flip
  assert T.scaled_size(T.Geometry("scale_width_and_crop", 40, 32), 100, 50) == (40, 20)


def test_flip_and_crop_are_shared_by_photo_label_instance():
  geo = T.Geometry("crop", 0, 16)
  img, lab, inst = sample()
  p = T.Params(5, 7, True)
  out = T.transform_sample(geo, img, lab, inst, p)
  np.testing.assert_array_equal(out["image"], img[7:23, 5:21][:, ::-1])
  np.testing.assert_array_equal(out["label"], lab[7:23, 5:21][:, ::-1])
  np.testing.assert_array_equal(out["instance"], inst[7:23, 5:21][:, ::-1])


def test_maps_resize_nearest_and_photos_bicubic():
  geo = T.Geometry("resize_and_crop", 57, 57)
  img, lab, inst = sample()
  out = T.transform_sample(geo, img, lab, inst, T.Params())
  assert set(np.unique(out["label"])) <= set(np.unique(lab))  # nearest: no new ids
  assert set(np.unique(out["instance"])) <= set(np.unique(inst))
  assert out["instance"].dtype == np.int32 and out["label"].dtype == np.uint8
  from PIL import Image
  ref = np.asarray(Image.fromarray(img).resize((57, 57), Image.BICUBIC))
  np.testing.assert_array_equal(out["image"], ref)


def test_crop_outside_the_image_is_zero_like_pil():
  geo = T.Geometry("crop", 0, 32)
  img, lab, inst = sample(w=20, h=40)
  out = T.apply(geo, lab, T.Params(0, 0, False), "nearest")
  assert out.shape == (32, 32) and (out[:, 20:] == 0).all()


def test_normalize_and_dontcare():
  x = T.normalize_image(np.array([[[0, 255, 128]]], np.uint8))
  assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0
  np.testing.assert_array_equal(T.map_dontcare(np.array([0, 255, 3], np.uint8), 182), [0, 182, 3])


def test_bad_mode_is_refused():
  with pytest.raises(ValueError, match="preprocess_mode"):
    T.Geometry("zoom")
