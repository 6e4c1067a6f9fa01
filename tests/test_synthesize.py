"""Synthesis API: modes (random z, style-guided, given z, multimodal), label PNG reading, bad inputs."""

import jax
import numpy as np
import pytest
from PIL import Image

from model_utils import random_variables
from spade_jax.evaluate.synthesize import (generate, generate_multimodal, list_label_files, read_label_png,
                                           to_uint8)
from spade_jax import models
from model_utils import tiny_config


@pytest.fixture(scope="module")
def vae():
  family = models.build(tiny_config(**{"model.use_vae": True, "data.crop_size": 32}))
  return family, random_variables(family.model)


def _labels():
  lab = np.zeros((2, 32, 32), np.int32)
  lab[:, 16:] = 3
  lab[1, :, 20:] = 1
  return lab


def test_modes(vae):
  family, v = vae
  lab = _labels()
  inputs = {"label": lab, "instance": lab}
  a = generate(family, v, inputs, rng=jax.random.key(0))
  assert a.shape == (2, 32, 32, 3) and float(np.abs(a).max()) <= 1
  np.testing.assert_array_equal(a, generate(family, v, inputs, rng=jax.random.key(0)))
  assert not np.allclose(a, generate(family, v, inputs, rng=jax.random.key(1)))
  style1 = np.full((1, 32, 32, 3), -0.8, np.float32)
  style2 = np.full((1, 32, 32, 3), 0.8, np.float32)
  s1 = generate(family, v, {**inputs, "style_image": style1}, rng=jax.random.key(0))
  s2 = generate(family, v, {**inputs, "style_image": style2}, rng=jax.random.key(0))
  assert not np.allclose(s1, s2)  # the style encoder changes the result
  z = np.zeros((2, family.config.model.z_dim), np.float32)
  np.testing.assert_array_equal(generate(family, v, {**inputs, "z": z}),
                                generate(family, v, {**inputs, "z": z}, rng=jax.random.key(5)))
  k = generate_multimodal(family, v, inputs, num_samples=3, rng=jax.random.key(0))
  assert k.shape == (3, 2, 32, 32, 3)
  u8 = to_uint8(np.array([-1.0, 0.0, 1.0, 2.0]))
  np.testing.assert_array_equal(u8, [0, 127, 255, 255])


def test_bad_inputs(vae):
  family, v = vae
  lab = _labels()
  key = jax.random.key(0)
  with pytest.raises(ValueError, match=r"label id 5 is outside 0..4 \(label_nc=5"):
    generate(family, v, {"label": np.full_like(lab, 5), "instance": lab}, rng=key)
  with pytest.raises(ValueError, match="size 16x32 .* does not match the model's 32x32"):
    generate(family, v, {"label": lab[:, :16], "instance": lab[:, :16]}, rng=key)
  with pytest.raises(ValueError, match="'instance' is required: this model uses instance edges"):
    generate(family, v, {"label": lab}, rng=key)
  with pytest.raises(ValueError, match="needs `z` or `rng`"):
    generate(family, v, {"label": lab, "instance": lab})
  with pytest.raises(ValueError, match="expected integer class ids"):
    generate(family, v, {"label": lab.astype(np.float32), "instance": lab}, rng=key)
  with pytest.raises(ValueError, match="input 'styles' is not accepted by the spade family; it takes: "
                                       "label, instance, style_image, z"):
    generate(family, v, {"label": lab, "instance": lab, "styles": lab}, rng=key)


def test_label_png_reading(tmp_path):
  ids = np.array([[0, 1], [255, 4]], np.uint8)
  Image.fromarray(ids, mode="L").save(tmp_path / "a.png")
  np.testing.assert_array_equal(read_label_png(str(tmp_path / "a.png"), label_nc=5), [[0, 1], [5, 4]])
  Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
  with pytest.raises(ValueError, match="rgb.png: RGB label image where class ids are expected"):
    read_label_png(str(tmp_path / "rgb.png"), 5)
  (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
  with pytest.raises(ValueError, match="broken.png: unreadable image"):
    read_label_png(str(tmp_path / "broken.png"), 5)
  with pytest.raises(FileNotFoundError, match="nope.png: label file not found"):
    read_label_png(str(tmp_path / "nope.png"), 5)
  assert [p.rsplit("/", 1)[1] for p in list_label_files(str(tmp_path))] == ["a.png", "broken.png", "rgb.png"]
  (tmp_path / "sub").mkdir()
  with pytest.raises(FileNotFoundError, match="no .png label files"):
    list_label_files(str(tmp_path / "sub"))


def test_sean_takes_its_style_image_through_the_api():
  family = models.build(tiny_config(**{"model.norm": "sean", "model.sean_style_dim": 8,
                                       "model.sean_encoder_ngf": 4, "data.crop_size": 32}))
  v = random_variables(family.model)
  lab = _labels()
  inputs = {"label": lab, "instance": lab}
  with pytest.raises(ValueError, match="a SEAN generator needs `style_image`"):
    generate(family, v, inputs)
  with pytest.raises(ValueError, match=r"its size \(16, 16\) must equal the label map's \(32, 32\)"):
    generate(family, v, {**inputs, "style_image": np.zeros((1, 16, 16, 3), np.float32)})
  with pytest.raises(ValueError, match="input 'z' is not accepted by the spade family"):
    generate(family, v, {**inputs, "style_image": np.zeros((1, 32, 32, 3), np.float32),
                         "z": np.zeros((2, 8), np.float32)})
  a = generate(family, v, {**inputs, "style_image": np.full((1, 32, 32, 3), -0.5, np.float32)})
  assert a.shape == (2, 32, 32, 3)
