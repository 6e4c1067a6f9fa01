"""Packaging and the notebook API: the wheel installs and its console commands run from outside the
checkout; `spade_jax.load(...)` reads a workdir / an official checkpoint / an export; export → load
round-trips bit-exactly, with a model card beside the file."""

import os
import pathlib
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest
from model_utils import random_variables, tiny_config

import spade_jax
from spade_jax import api, models

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_model():
  family = models.build(tiny_config(**{"model.use_vae": True, "data.crop_size": 32, "data.label_nc": 10}))
  variables = random_variables(family.model)
  variables = {k: v for k, v in variables.items() if k in ("G", "E")}
  return api.Model(family, variables, step=7, source="random weights (test)")


def _labels():
  lab = np.zeros((32, 32), np.int32)
  lab[16:] = 5
  lab[:, 20:] = 8
  return lab


def test_generate_info_and_errors(tiny_model):
  info = tiny_model.info
  assert info["family"] == "spade" and info["image_size"] == [32, 32] and info["multimodal"]
  assert [i["name"] for i in info["inputs"]] == ["label", "instance", "style_image", "z"]
  assert len(info["classes"]) == 10 and {"id", "name", "color"} <= set(info["classes"][0])
  with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    img = tiny_model.generate(_labels(), seed=1)
  assert img.shape == (32, 32, 3) and img.dtype == np.uint8
  assert any("class boundaries" in str(x.message) for x in w)
  np.testing.assert_array_equal(img, tiny_model.generate(_labels(), seed=1, instance=_labels()))
  assert not np.array_equal(img, tiny_model.generate(_labels(), seed=2, instance=_labels()))
  photo = np.full((48, 48, 3), 200, np.uint8)  # resized to the model's size
  assert tiny_model.generate(_labels()[None], style=photo, instance=_labels()[None]).shape == (1, 32, 32, 3)
  with pytest.raises(ValueError, match="label id 12 is outside 0..9"):
    tiny_model.generate(np.full((32, 32), 12), instance=_labels())
  with pytest.raises(ValueError, match=r"style: expected a photo \[H, W, 3\]"):
    tiny_model.generate(_labels(), style=np.zeros((4, 4)), instance=_labels())


def test_export_load_round_trip_is_bit_exact(tiny_model, tmp_path):
  path = tiny_model.export(str(tmp_path / "tiny.safetensors"))
  card = (tmp_path / "tiny.md").read_text()
  assert "Family:** `spade`" in card and "Training steps:** 7" in card and "## Licence" in card
  back = spade_jax.load(path)
  assert back.step == 7 and back.family.name == "spade"
  assert jax.tree.structure(back.variables) == jax.tree.structure(jax.device_get(tiny_model.variables))
  for a, b in zip(jax.tree.leaves(back.variables), jax.tree.leaves(jax.device_get(tiny_model.variables))):
    np.testing.assert_array_equal(a, b)
  lab = _labels()
  np.testing.assert_array_equal(back.generate(lab, seed=3, instance=lab), tiny_model.generate(lab, seed=3, instance=lab))
  (tmp_path / "junk.safetensors").write_bytes(b"not a model")
  with pytest.raises(ValueError, match="junk.safetensors: not a readable safetensors file"):
    spade_jax.load(str(tmp_path / "junk.safetensors"))
  with pytest.raises(FileNotFoundError, match="nowhere: no such training workdir or model file"):
    spade_jax.load(str(tmp_path / "nowhere"))


def test_official_weights_carry_the_noncommercial_licence(tiny_model, tmp_path):
  m = api.Model(tiny_model.family, tiny_model.variables, source="latest_net_G.pth", licence=api.NONCOMMERCIAL)
  m.export(str(tmp_path / "official.safetensors"))
  assert "CC BY-NC-SA 4.0" in (tmp_path / "official.md").read_text()
  assert spade_jax.load(str(tmp_path / "official.safetensors")).licence == "CC BY-NC-SA 4.0"


def test_wheel_installs_and_runs_outside_the_checkout(tiny_model, tmp_path):
  """pip builds the wheel; installed (no deps: they are this venv's) into a folder outside the repo,
  its console commands and the notebook example run from another directory."""
  wheels = tmp_path / "wheels"
  r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                      str(wheels), str(REPO)], capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  wheel = next(wheels.glob("spade_jax-*.whl"))
  target = tmp_path / "site"
  r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                     capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  assert (target / "spade_jax" / "paint" / "static" / "index.html").is_file()  # package data
  assert (target / "spade_jax" / "configs" / "spade" / "synthetic.py").is_file()
  outside = tmp_path / "elsewhere"
  outside.mkdir()
  env = {**os.environ, "PYTHONPATH": str(target), "JAX_PLATFORMS": "cpu"}
  for cmd in ("spade-train", "spade-eval", "spade-paint", "spade-inspect"):
    r = subprocess.run([str(target / "bin" / cmd), "--help"], cwd=outside, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, (cmd, r.stderr[-2000:])
  r = subprocess.run([str(target / "bin" / "spade-train"), "--version"], cwd=outside, env=env,
                     capture_output=True, text=True, timeout=300)
  assert r.stdout.strip().endswith(spade_jax.__version__)
  model_file = tiny_model.export(str(tmp_path / "m.safetensors"))
  example = ("import numpy as np, spade_jax\n"
             f"model = spade_jax.load({model_file!r})\n"
             "assert spade_jax.__file__.startswith(%r), spade_jax.__file__\n" % str(target) +
             "lab = np.zeros((32, 32), np.int32); lab[16:] = 5; lab[:, 20:] = 8\n"
             "img = model.generate(lab, seed=3, instance=lab)\n"
             f"np.save({str(tmp_path / 'out.npy')!r}, img)\n")
  r = subprocess.run([sys.executable, "-c", example], cwd=outside, env=env, capture_output=True, text=True,
                     timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  lab = _labels()
  np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), tiny_model.generate(lab, seed=3, instance=lab))


def test_model_card_lists_every_evaluation_setting():
  """A family evaluated in several settings (SEAN: reconstruction, mean codes) gets one row each."""
  import types
  import ml_collections
  from spade_jax.export_card import card_text
  metrics = {"step": 5, "family": "sean",
             "settings": {"reconstruction": {"fid": 12.5, "num_images": 4}, "mean_codes": {"fid": 30.25, "num_images": 4},
                          "other": {"skipped": "no file"}},
             "protocol": {"reconstruction": {"style_setting": "reconstruction"}}}
  model = types.SimpleNamespace(
      config=ml_collections.ConfigDict({"data": {"name": "synthetic", "label_nc": 10}, "batch_size": 2}),
      family=types.SimpleNamespace(name="sean", image_hw=(32, 32)), step=5, source="", licence="",
      info={"inputs": [{"name": "label", "required": True}]}, metrics=metrics)
  text = card_text(model, "m.safetensors")
  assert "| setting | fid | num_images |" in text
  assert "| reconstruction | 12.5 | 4 |" in text and "| mean_codes | 30.25 | 4 |" in text
  assert "other" not in text.split("Protocol")[0] and '"style_setting": "reconstruction"' in text
  single = card_text(types.SimpleNamespace(**{**vars(model), "metrics": {"fid": 7.0, "num_images": 4}}), "m")
  assert "| fid | num_images |" in single and "| 7 | 4 |" in single
