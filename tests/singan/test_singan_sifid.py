"""SIFID: block-0 weights from a torchvision-named `.pth` the test writes (BN scale folded), the
feature map against a numpy reference, the distance's basic properties, the one-line errors, and
the labelled FID-block-0 variant when the FID weights are present."""

import collections

import numpy as np
import pytest

import torch_writer
from spade_jax.models.singan import sifid


def _state(rng):
  sd = collections.OrderedDict()
  for layer, (o, i) in sifid.SHAPES.items():
    sd[f"{layer}.conv.weight"] = (rng.standard_normal((o, i, 3, 3)) * 0.2).astype(np.float32)
    sd[f"{layer}.bn.weight"] = rng.uniform(0.5, 1.5, o).astype(np.float32)
    sd[f"{layer}.bn.bias"] = (rng.standard_normal(o) * 0.1).astype(np.float32)
    sd[f"{layer}.bn.running_mean"] = (rng.standard_normal(o) * 0.1).astype(np.float32)
    sd[f"{layer}.bn.running_var"] = rng.uniform(0.5, 2, o).astype(np.float32)
    sd[f"{layer}.bn.num_batches_tracked"] = np.array(0, np.int64)
  sd["fc.weight"] = np.zeros((10, 2048), np.float32)
  return sd


def _reference(sd, x):
  """conv (no bias) → BN(gamma, beta, running stats, eps 1e-3) → ReLU, in float64 numpy (HWC)."""
  def conv(x, w, stride, pad):
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    h = (x.shape[0] - 3) // stride + 1
    w_ = (x.shape[1] - 3) // stride + 1
    out = np.zeros((h, w_, w.shape[0]))
    for u in range(3):
      for v in range(3):
        patch = x[u:u + stride * (h - 1) + 1:stride, v:v + stride * (w_ - 1) + 1:stride]
        out += patch @ w[:, :, u, v].T
    return out
  for layer, stride, pad in (("Conv2d_1a_3x3", 2, 0), ("Conv2d_2a_3x3", 1, 0), ("Conv2d_2b_3x3", 1, 1)):
    y = conv(x, sd[f"{layer}.conv.weight"].astype(np.float64), stride, pad)
    y = (y - sd[f"{layer}.bn.running_mean"]) / np.sqrt(sd[f"{layer}.bn.running_var"] + 1e-3)
    x = np.maximum(y * sd[f"{layer}.bn.weight"] + sd[f"{layer}.bn.bias"], 0)
  return x


def test_torchvision_weights_and_distance(tmp_path):
  rng = np.random.default_rng(0)
  sd = _state(rng)
  path = tmp_path / "inception_v3_google.pth"
  torch_writer.write_zip(path, collections.OrderedDict((k, torch_writer.tensor(a)) for k, a in sd.items()))
  v = sifid.load_torchvision_block0(path)
  img = rng.uniform(0, 1, (21, 25, 3))
  f = sifid.features(v, img)
  ref = _reference(sd, 2 * img - 1)
  assert f.shape == (ref.shape[0] * ref.shape[1], 64)
  np.testing.assert_allclose(f, ref.reshape(-1, 64), rtol=1e-4, atol=1e-4)
  other = np.clip(img + rng.normal(0, 0.2, img.shape), 0, 1)
  assert abs(sifid.sifid(v, img, img)) < 1e-6
  d = sifid.sifid(v, img, other)
  assert d > 1e-3 and d == pytest.approx(sifid.sifid(v, other, img), rel=1e-6)
  assert sifid.sifid_many(v, img, [img, other])[1] == pytest.approx(d)


def test_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.pth: no such file .*inception_v3_google"):
    sifid.load_torchvision_block0(tmp_path / "nope.pth")
  sd = _state(np.random.default_rng(1))
  del sd["Conv2d_2a_3x3.bn.running_var"]
  torch_writer.write_zip(tmp_path / "bad.pth", collections.OrderedDict((k, torch_writer.tensor(a)) for k, a in sd.items()))
  with pytest.raises(ValueError, match="bad.pth: not InceptionV3 weights.*missing Conv2d_2a_3x3.bn.running_var"):
    sifid.load_torchvision_block0(tmp_path / "bad.pth")
  (tmp_path / "junk.pth").write_bytes(b"junk")
  with pytest.raises(ValueError, match="junk.pth: cannot be read"):
    sifid.load_torchvision_block0(tmp_path / "junk.pth")


def test_fid_block0_variant(fid_weights_path):
  v = sifid.load_fid_block0(fid_weights_path)
  rng = np.random.default_rng(2)
  a, b = rng.uniform(0, 1, (30, 30, 3)), rng.uniform(0, 1, (30, 30, 3))
  assert sifid.sifid(v, a, a) == pytest.approx(0, abs=1e-6) and sifid.sifid(v, a, b) > 0
  assert "variant" in sifid.VARIANT_FID
