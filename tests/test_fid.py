"""Tests of the FID pipeline: Flax InceptionV3 vs the PyTorch reference fixture, preprocessing, the
Fréchet distance, weight conversion and loading.

Fixture: `fid_inception.npz` (see its FID.md) in `$SPADE_PARITY_DIR`, default `<repo>/../shared/parity`.
Weights: `weights/fid_inception/default_1.pt`, fetched by scripts/fetch_fid_weights.sh when absent.
"""

import os
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model_utils import missing, parity_dir

from spade_jax.evaluate import fid
from spade_jax.evaluate.nets import inception
from spade_jax.io import torch_files

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURE = parity_dir() / "fid_inception.npz"

# Tolerances from FID.md.
ATOL_FEATS_299 = 1e-4
ATOL_FEATS_NATIVE = 3e-4
ATOL_RESIZE_0_255 = 0.01
RTOL_FD = 1e-6
RTOL_FD_SMALL = 1e-9


@pytest.fixture(scope="module")
def ref():
  if not FIXTURE.is_file():
    pytest.skip(missing("the FID parity fixture", FIXTURE))
  with np.load(FIXTURE) as data:
    return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def weights_path(fid_weights_path):
  return fid_weights_path


@pytest.fixture(scope="module")
def torchscript_state(weights_path):
  return torch_files.load_state_dict(weights_path)


@pytest.fixture(scope="module")
def extractor(weights_path):
  # batch 4: the 6 fixture images take a full and a padded batch; one network compilation.
  return fid.FIDFeatureExtractor(weights_path, batch_size=4)


# ------------------------------------------------------------------------------------------------
# Parity with the PyTorch reference.


def test_features_299_match_reference(extractor, ref):
  feats = extractor(ref["images_299"])
  assert feats.shape == (6, 2048) and feats.dtype == np.float64
  err = np.abs(feats - ref["feats_299"]).max()
  print(f"feats_299 max abs diff {err:.2e} (f64 reference run: "
        f"{np.abs(feats - ref['feats_299_f64run']).max():.2e})")
  assert err < ATOL_FEATS_299


def test_features_native_size_match_reference(extractor, ref):
  feats = extractor(ref["images_native"])
  err = np.abs(feats - ref["feats_native"]).max()
  print(f"feats_native max abs diff {err:.2e} (f64 reference run: "
        f"{np.abs(feats - ref['feats_native_f64run']).max():.2e})")
  assert err < ATOL_FEATS_NATIVE


def test_resize_matches_reference(ref):
  u = jnp.asarray(ref["images_native"][:1])
  resized = jax.jit(lambda u: fid.nv_bilinear_resize(
      jnp.round(jnp.clip(u.astype(jnp.float32) / 255, 0, 1) * 255)))(u)
  assert resized.shape == (1, 299, 299, 3)
  err = np.abs(np.asarray(resized) - ref["resized_native0_0_255"]).max()
  print(f"resize (0..255) max abs diff {err:.2e}")
  assert err < ATOL_RESIZE_0_255


def test_resize_positions_are_tf1_legacy():
  # Input 2 → output 4: positions 0, .5, 1, 1.5 → (upper neighbour clamped) a, (a+b)/2, b, b.
  x = jnp.array([0.0, 8.0]).reshape(1, 2, 1, 1) * jnp.ones((1, 1, 2, 1))
  out = fid.nv_bilinear_resize(x, (4, 2))
  np.testing.assert_array_equal(np.asarray(out)[0, :, 0, 0], [0, 4, 8, 8])


def test_preprocess_without_resize_is_u_over_128_minus_1():
  u = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, -1)
  u = np.pad(u, ((0, 0), (0, 299 - 16), (0, 299 - 16), (0, 0)))
  x = np.asarray(fid.preprocess(jnp.asarray(u)))
  assert x.shape == (1, 299, 299, 3) and x.dtype == np.float32
  np.testing.assert_allclose(x, u / 128.0 - 1.0, rtol=0, atol=1e-6)
  assert x.max() == fid.INPUT_MAX and x.min() == -1.0


# ------------------------------------------------------------------------------------------------
# Fréchet distance.


def test_statistics_match_reference(ref):
  mu, sigma = fid.fid_statistics(ref["fd_a_feats"])
  np.testing.assert_allclose(mu, ref["fd_a_mu"], rtol=1e-12, atol=1e-15)
  np.testing.assert_allclose(np.diag(sigma), ref["fd_a_sigma_diag"], rtol=1e-12)
  np.testing.assert_allclose(sigma[:64, :64], ref["fd_a_sigma_corner"], rtol=1e-12, atol=1e-15)


def test_frechet_distance_reference_2048d(ref):
  # The 2048-d rank-63 case through the exact Gram route (2048-d sqrtm / eigh take 45-90 s on 2 CPU
  # cores: opt-in test below; the routes are compared on smaller cases in the next test).
  value = fid.fid_from_features(ref["fd_a_feats"], ref["fd_b_feats"], method="gram")
  print(f"fd_value (gram) rel diff {abs(value / ref['fd_value'] - 1):.1e}")
  np.testing.assert_allclose(value, ref["fd_value"], rtol=RTOL_FD)


@pytest.mark.skipif(not os.environ.get("SPADE_SLOW_TESTS"),
                    reason="2048-d sqrtm / eigh take minutes on small CPUs; set SPADE_SLOW_TESTS=1")
@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_frechet_distance_reference_2048d_slow(ref, method):
  value = fid.fid_from_features(ref["fd_a_feats"], ref["fd_b_feats"], method=method)
  print(f"fd_value ({method}) rel diff {abs(value / ref['fd_value'] - 1):.1e}")
  np.testing.assert_allclose(value, ref["fd_value"], rtol=RTOL_FD)


@pytest.mark.parametrize("n, rtol", [(40, 1e-6), (300, 1e-10)])  # rank-deficient, full rank
def test_frechet_distance_methods_agree(n, rtol):
  rng = np.random.default_rng(n)
  a = rng.normal(size=(n, 96))
  b = rng.normal(size=(n + 7, 96)) @ rng.normal(size=(96, 96)) * 0.2 + 0.1
  values = {m: fid.fid_from_features(a, b, method=m) for m in ("sqrtm", "eigh", "gram")}
  np.testing.assert_allclose(values["eigh"], values["sqrtm"], rtol=rtol)
  np.testing.assert_allclose(values["gram"], values["sqrtm"], rtol=rtol)


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_frechet_distance_reference_64d(ref, method):
  value = fid.frechet_distance(ref["fd_small_c_mu"], ref["fd_small_c_sigma"], ref["fd_small_d_mu"],
                               ref["fd_small_d_sigma"], method=method)
  print(f"fd_small_value ({method}) rel diff {abs(value / ref['fd_small_value'] - 1):.1e}")
  np.testing.assert_allclose(value, ref["fd_small_value"], rtol=RTOL_FD_SMALL)


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_frechet_distance_closed_form(method):
  # Covariances sharing eigenvectors: FD = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
  a, b = np.array([1.0, 2.0, 0.5, 4.0, 9.0]), np.array([4.0, 1.0, 0.5, 1.0, 1e-3])
  mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  value = fid.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T, method=method)
  np.testing.assert_allclose(value, expected, rtol=1e-10)
  assert fid.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu1, q @ np.diag(a) @ q.T,
                              method=method) == pytest.approx(0.0, abs=1e-10)
  # 1-d Gaussians N(0, 4) and N(3, 1): 9 + (2 - 1)^2.
  assert fid.frechet_distance(0.0, 4.0, 3.0, 1.0, method=method) == pytest.approx(10.0, rel=1e-12)


def test_frechet_distance_rejects_bad_input():
  with pytest.raises(ValueError, match="imaginary component"):
    fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), -np.eye(2))
  with pytest.raises(ValueError, match="mean vectors differ"):
    fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
  with pytest.raises(ValueError, match="unknown method"):
    fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="svd")
  with pytest.raises(ValueError, match="N >= 2"):
    fid.fid_statistics(np.zeros((1, 2048)))


def test_extractor_rejects_float_images():
  ex = fid.FIDFeatureExtractor(variables={}, batch_size=2)
  with pytest.raises(ValueError, match="uint8 RGB images"):
    ex(np.zeros((2, 299, 299, 3), np.float32))


# ------------------------------------------------------------------------------------------------
# Weight conversion and loading.


def test_missing_weights_name_the_path_and_the_fetch_command(tmp_path, monkeypatch):
  missing = tmp_path / "nowhere" / "default_1.pt"
  monkeypatch.setenv(inception.WEIGHTS_ENV, str(missing))
  with pytest.raises(FileNotFoundError) as info:
    inception.load_fid_inception()
  message = str(info.value)
  assert str(missing) in message and "scripts/fetch_fid_weights.sh" in message
  assert "SPADE_FID_WEIGHTS" in message and "\n" not in message
  with pytest.raises(FileNotFoundError, match="other.pt"):
    inception.load_fid_inception(tmp_path / "other.pt")


def test_converter_checks_names_and_shapes(torchscript_state):
  state = dict(torchscript_state)
  del state["net.layers.mixed_3.tower.conv_2.var"]
  with pytest.raises(ValueError, match=r"missing net\.layers\.mixed_3\.tower\.conv_2\.var"):
    inception.inception_params_from_torchscript(state)
  state = dict(torchscript_state, **{"net.layers.conv.beta": np.zeros(31, np.float32)})
  with pytest.raises(ValueError, match=r"params/Conv2d_1a_3x3/beta has shape \(31,\)"):
    inception.inception_params_from_torchscript(state)
  state = dict(torchscript_state, **{"net.extra": np.zeros(1, np.float32)})
  with pytest.raises(ValueError, match=r"1 unexpected tensors, e\.g\. \['net\.extra'\]"):
    inception.inception_params_from_torchscript(state)
  with pytest.raises(ValueError, match="not an FID InceptionV3 state dict"):
    inception.inception_params_from_state_dict({"features.0.weight": np.zeros(1)})


def test_pytorch_fid_names_convert_to_the_same_variables(torchscript_state):
  names = inception.torchscript_layer_names()
  renamed = {"fc.weight": np.zeros((1008, 2048), np.float32), "fc.bias": np.zeros(1008, np.float32)}
  for layer, ts in names.items():
    p = layer.replace("/", ".")
    renamed[f"{p}.conv.weight"] = torchscript_state[f"{ts}.weight"]
    renamed[f"{p}.bn.weight"] = np.ones_like(torchscript_state[f"{ts}.beta"])
    renamed[f"{p}.bn.bias"] = torchscript_state[f"{ts}.beta"]
    renamed[f"{p}.bn.running_mean"] = torchscript_state[f"{ts}.mean"]
    renamed[f"{p}.bn.running_var"] = torchscript_state[f"{ts}.var"]
  a = inception.inception_params_from_state_dict(torchscript_state)
  b = inception.inception_params_from_state_dict(renamed)
  jax.tree.map(np.testing.assert_array_equal, a, b)
  renamed["Mixed_7c.branch_pool.bn.weight"] = renamed["Mixed_7c.branch_pool.bn.weight"] * 2
  with pytest.raises(ValueError, match="not all ones"):
    inception.inception_params_from_pytorch_fid(renamed)


def test_converted_variables_are_cached_beside_the_source(weights_path, tmp_path, monkeypatch):
  source = tmp_path / "default_1.pt"
  shutil.copyfile(weights_path, source)
  _, first = inception.load_fid_inception(source)
  cache = tmp_path / "default_1.flax.npz"
  assert cache.is_file()

  def no_conversion(path):
    raise AssertionError("the cache was not used")

  monkeypatch.setattr(torch_files, "load_state_dict", no_conversion)
  _, second = inception.load_fid_inception(source)
  jax.tree.map(np.testing.assert_array_equal, first, second)
  _, from_npz = inception.load_fid_inception(cache)  # a converted .npz is accepted as weights
  jax.tree.map(np.testing.assert_array_equal, first, from_npz)
  os.utime(source, ns=(0, 0))  # a changed source invalidates the cache
  with pytest.raises(AssertionError, match="cache was not used"):
    inception.load_fid_inception(source)
