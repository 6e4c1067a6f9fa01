"""Loss tests on hand-made numbers; VGG19 perceptual loss with weights the test generates."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spade_jax.gan import losses
from spade_jax.gan.vgg import VGG19Features, load_vgg19
from torch_writer import tensor, write_zip

P1 = jnp.array([[-2.0, 0.5], [1.5, 3.0]])  # scale 0 logits
P2 = jnp.array([0.0, -0.5])                # scale 1 logits


def outs(*preds):
  return [[jnp.zeros(3), p] for p in preds]  # [features..., logits] per scale


def test_hinge_losses_average_over_scales():
  # D real: mean(relu(1 - p)); scale0: (3 + .5 + 0 + 0)/4 = .875; scale1: (1 + 1.5)/2 = 1.25
  np.testing.assert_allclose(losses.gan_loss(outs(P1, P2), "hinge", True, True), (0.875 + 1.25) / 2)
  # D fake: mean(relu(1 + p)); scale0: (0 + 1.5 + 2.5 + 4)/4 = 2; scale1: (1 + .5)/2 = .75
  np.testing.assert_allclose(losses.gan_loss(outs(P1, P2), "hinge", False, True), (2 + 0.75) / 2)
  # G: -mean(p); scale0: -0.75; scale1: 0.25
  np.testing.assert_allclose(losses.gan_loss(outs(P1, P2), "hinge", True, False), (-0.75 + 0.25) / 2)
  with pytest.raises(ValueError, match="must target real"):
    losses.gan_loss(outs(P1), "hinge", False, False)


def test_other_gan_modes():
  np.testing.assert_allclose(losses.gan_loss(outs(P2), "ls", True, True), (1 + 2.25) / 2)
  np.testing.assert_allclose(losses.gan_loss(outs(P2), "ls", False, True), (0 + 0.25) / 2)
  bce_real = np.mean(np.log1p(np.exp(-np.array([0.0, -0.5]))))
  np.testing.assert_allclose(losses.gan_loss(outs(P2), "original", True, True), bce_real, rtol=1e-6)
  np.testing.assert_allclose(losses.gan_loss(outs(P2), "w", True, True), 0.25)
  np.testing.assert_allclose(losses.gan_loss(outs(P2), "w", False, True), -0.25)
  with pytest.raises(ValueError, match="gan_mode='bce'"):
    losses.gan_loss(outs(P2), "bce", True, True)


def test_feature_matching_skips_logits_and_detaches_real():
  fake = [[jnp.ones(4), jnp.full(2, 3.0), jnp.zeros(1)], [jnp.zeros(4), jnp.zeros(1)]]
  real = [[jnp.zeros(4), jnp.ones(2), jnp.full(1, 100.0)], [jnp.full(4, 2.0), jnp.full(1, -5.0)]]
  # (1 + 2) · 10/2 for scale 0, 2 · 10/2 for scale 1
  np.testing.assert_allclose(losses.feature_matching_loss(fake, real, 10.0), 15 + 10)
  g = jax.grad(lambda r: losses.feature_matching_loss(fake, r, 10.0))(real)
  assert all(float(jnp.abs(x).sum()) == 0 for x in jax.tree_util.tree_leaves(g))


def test_kld_is_a_sum():
  mu = jnp.array([[1.0, 0.0], [0.0, 2.0]])
  logvar = jnp.array([[0.0, np.log(2.0)], [0.0, 0.0]])
  expect = -0.5 * ((1 + 0 - 1 - 1) + (1 + np.log(2) - 0 - 2) + (1 - 1) + (1 + 0 - 4 - 1))
  np.testing.assert_allclose(losses.kld_loss(mu, logvar), expect, rtol=1e-6)
  np.testing.assert_allclose(losses.kld_loss(jnp.zeros((3, 4)), jnp.zeros((3, 4))), 0.0)


@pytest.fixture(scope="module")
def vgg_state():
  """A random torchvision-layout vgg19 state dict (features + classifier, as torchvision saves it)."""
  rng = np.random.default_rng(0)
  layout = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
            (14, 256, 256), (16, 256, 256), (19, 256, 512), (21, 512, 512), (23, 512, 512), (25, 512, 512),
            (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512)]
  sd = collections.OrderedDict()
  for idx, cin, cout in layout:
    sd[f"features.{idx}.weight"] = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2 / (9 * cin))).astype(np.float32)
    sd[f"features.{idx}.bias"] = (rng.standard_normal(cout) * 0.01).astype(np.float32)
  sd["classifier.0.weight"] = np.zeros((4, 8), np.float32)
  return sd


def test_vgg19_loading_and_perceptual_loss(vgg_state, tmp_path):
  pth = write_zip(tmp_path / "vgg19-dcbb9e9d.pth", collections.OrderedDict((k, tensor(v)) for k, v in vgg_state.items()))
  variables = load_vgg19(str(pth))
  np.testing.assert_array_equal(variables["params"]["features_28"]["kernel"],
                                vgg_state["features.28.weight"].transpose(2, 3, 1, 0))
  npz = tmp_path / "vgg19.npz"
  np.savez(npz, **vgg_state)
  v2 = load_vgg19(str(npz))
  np.testing.assert_array_equal(v2["params"]["features_0"]["bias"], vgg_state["features.0.bias"])

  net = VGG19Features()
  x = jax.random.uniform(jax.random.key(0), (1, 32, 32, 3), minval=-1, maxval=1)
  taps = net.apply(variables, x)
  assert [t.shape for t in taps] == [(1, 32, 32, 64), (1, 16, 16, 128), (1, 8, 8, 256), (1, 4, 4, 512),
                                     (1, 2, 2, 512)]
  # First tap = relu(conv(x)) with torchvision's OIHW kernel, checked against a direct convolution.
  w, b = vgg_state["features.0.weight"], vgg_state["features.0.bias"]
  xp = np.pad(np.asarray(x[0], np.float64), ((1, 1), (1, 1), (0, 0)))
  direct = sum(xp[i:i + 32, j:j + 32, :] @ w[:, :, i, j].T.astype(np.float64) for i in range(3) for j in range(3)) + b
  np.testing.assert_allclose(taps[0][0], np.maximum(direct, 0), atol=1e-4)

  fn = lambda img: net.apply(variables, img)
  y = x * 0.5
  loss = losses.vgg_loss(fn, x, y)
  expect = sum(w * np.mean(np.abs(np.asarray(a) - np.asarray(b))) for w, a, b in
               zip((1 / 32, 1 / 16, 1 / 8, 1 / 4, 1), fn(x), fn(y)))
  np.testing.assert_allclose(loss, expect, rtol=1e-5)
  np.testing.assert_allclose(losses.vgg_loss(fn, x, x), 0.0)
  g = jax.grad(lambda t: losses.vgg_loss(fn, x, t))(y)  # the target side is detached
  assert float(jnp.abs(g).sum()) == 0.0


def test_vgg19_missing_or_wrong_weights(tmp_path):
  with pytest.raises(FileNotFoundError, match="set train.vgg_weights to vgg19-dcbb9e9d.pth"):
    load_vgg19("")
  with pytest.raises(FileNotFoundError, match="VGG19 weights file not found: .*nope.pth"):
    load_vgg19(str(tmp_path / "nope.pth"))
  bad = tmp_path / "resnet.npz"
  np.savez(bad, **{"conv1.weight": np.zeros((64, 3, 7, 7), np.float32)})
  with pytest.raises(ValueError, match=r"resnet.npz: VGG19 weights: key 'features.0.weight'"):
    load_vgg19(str(bad))


def test_l1_reconstruction_is_a_weighted_mean_with_the_target_detached():
  fake = jnp.array([[0.5, -1.0], [0.0, 2.0]])
  real = jnp.array([[0.0, 0.0], [1.0, 1.5]])
  np.testing.assert_allclose(losses.l1_loss(fake, real, 10.0), 10 * (0.5 + 1 + 1 + 0.5) / 4)
  assert float(jnp.abs(jax.grad(lambda r: losses.l1_loss(fake, r, 1.0))(real)).sum()) == 0.0
  np.testing.assert_allclose(jax.grad(lambda f: losses.l1_loss(f, real, 4.0))(fake), [[1, -1], [-1, 1]])
