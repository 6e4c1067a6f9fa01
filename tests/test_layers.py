"""Layer tests: param-free norms (incl. cross-device BN under pmap and sharded jit), spectral norm,
resizing / pooling rules, label → semantics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from spade_jax.data.labels import instance_edges, semantic_nc, to_semantics
from spade_jax.nn.norms import (Conv, ParamFreeNorm, avg_pool_3x3_s2, nearest_resize, spectral_normalize,
                                upsample2x)


def _x(shape=(8, 4, 4, 3), seed=0):
  return jax.random.normal(jax.random.key(seed), shape) * 2 + 1


def test_batch_norm_train_and_running_stats():
  x = _x()
  norm = ParamFreeNorm("batch")
  v = norm.init(jax.random.key(0), x, True)
  y, upd = norm.apply(v, x, True, mutable=["batch_stats"])
  xn = np.asarray(x, np.float64)
  mean, var = xn.mean((0, 1, 2)), xn.var((0, 1, 2))
  np.testing.assert_allclose(y, (xn - mean) / np.sqrt(var + 1e-5), atol=1e-5)
  n = xn.size // 3
  np.testing.assert_allclose(upd["batch_stats"]["mean"], 0.1 * mean, rtol=1e-5)
  np.testing.assert_allclose(upd["batch_stats"]["var"], 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
  y_eval = norm.apply(upd, x, False)
  np.testing.assert_allclose(y_eval, (xn - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var * n / (n - 1) + 1e-5),
                             rtol=1e-4, atol=1e-5)


def test_instance_and_group_norm():
  x = _x((2, 4, 4, 8))
  y = ParamFreeNorm("instance").apply({}, x, True)
  np.testing.assert_allclose(np.asarray(y).mean((1, 2)), 0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(y).var((1, 2)), 1, atol=1e-3)
  yg = np.asarray(ParamFreeNorm("group", num_groups=2).apply({}, x, True)).reshape(2, 4, 4, 2, 4)
  np.testing.assert_allclose(yg.mean((1, 2, 4)), 0, atol=1e-5)
  np.testing.assert_allclose(ParamFreeNorm("none").apply({}, x, True), x)
  with pytest.raises(ValueError, match="unknown parameter-free norm 'layer'"):
    ParamFreeNorm("layer").apply({}, x, True)


def test_sync_batch_norm_is_global_under_pmap_and_sharded_jit():
  """4 devices × 2 samples give the statistics of the global batch of 8, both ways."""
  x = _x((8, 4, 4, 3))
  ref_norm = ParamFreeNorm("syncbatch")
  v = ref_norm.init(jax.random.key(0), x, True)
  y_ref, upd_ref = ref_norm.apply(v, x, True, mutable=["batch_stats"])

  pm_norm = ParamFreeNorm("syncbatch", axis_name="batch")
  f = jax.pmap(lambda v, x: pm_norm.apply(v, x, True, mutable=["batch_stats"]), axis_name="batch",
               in_axes=(None, 0))
  y_pm, upd_pm = f(v, x.reshape(4, 2, 4, 4, 3))
  np.testing.assert_allclose(np.asarray(y_pm).reshape(x.shape), y_ref, atol=1e-5)
  for k in ("mean", "var"):
    np.testing.assert_allclose(upd_pm["batch_stats"][k][0], upd_ref["batch_stats"][k], rtol=1e-5)
    np.testing.assert_allclose(upd_pm["batch_stats"][k][3], upd_ref["batch_stats"][k], rtol=1e-5)

  mesh = Mesh(np.array(jax.devices()[:4]), ("data",))
  xs = jax.device_put(x, NamedSharding(mesh, P("data")))
  y_sh, upd_sh = jax.jit(lambda v, x: ref_norm.apply(v, x, True, mutable=["batch_stats"]))(v, xs)
  assert len(xs.sharding.device_set) == 4
  np.testing.assert_allclose(y_sh, y_ref, atol=1e-5)
  np.testing.assert_allclose(upd_sh["batch_stats"]["var"], upd_ref["batch_stats"]["var"], rtol=1e-5)


def test_spectral_norm_train_iterates_eval_does_not():
  conv = Conv(6, 3, spectral=True)
  x = _x((1, 5, 5, 4))
  v = conv.init(jax.random.key(0), x, True)
  u0, v0 = v["batch_stats"]["u"], v["batch_stats"]["v"]
  assert u0.shape == (6,) and v0.shape == (4 * 9,)
  np.testing.assert_allclose(jnp.linalg.norm(u0), 1, rtol=1e-6)
  # eval: stored vectors, no update; sigma = uᵀ W v
  y_eval = conv.apply(v, x, False)
  kernel = v["params"]["kernel"]
  w = np.asarray(kernel).transpose(3, 2, 0, 1).reshape(6, -1)
  sigma = float(u0 @ w @ v0)
  y_plain = Conv(6, 3).apply({"params": {"kernel": kernel / sigma, "bias": v["params"]["bias"]}}, x)
  np.testing.assert_allclose(y_eval, y_plain, rtol=1e-5, atol=1e-4)  # |y| ~ 80
  # train: one power iteration (v = n(Wᵀu), u = n(Wv)), stored
  _, upd = conv.apply(v, x, True, mutable=["batch_stats"])
  v1 = w.T @ np.asarray(u0)
  v1 /= np.linalg.norm(v1)
  u1 = w @ v1
  u1 /= np.linalg.norm(u1)
  np.testing.assert_allclose(upd["batch_stats"]["v"], v1, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(upd["batch_stats"]["u"], u1, rtol=1e-5, atol=1e-6)
  # many iterations converge to the largest singular value
  state = {"params": v["params"], "batch_stats": upd["batch_stats"]}
  for _ in range(30):
    _, upd = conv.apply(state, x, True, mutable=["batch_stats"])
    state = {"params": v["params"], "batch_stats": upd["batch_stats"]}
  s = float(upd["batch_stats"]["u"] @ w @ upd["batch_stats"]["v"])
  np.testing.assert_allclose(s, np.linalg.svd(w, compute_uv=False)[0], rtol=1e-4)


def test_spectral_norm_gradient_flows_through_sigma():
  import flax.linen as nn

  class Holder(nn.Module):
    @nn.compact
    def __call__(self, k):
      return spectral_normalize(self, k, train=False)

  k = jax.random.normal(jax.random.key(0), (3, 3, 2, 4))
  h = Holder()
  v = h.init(jax.random.key(1), k)
  g = jax.grad(lambda k: jnp.sum(h.apply(v, k)))(k)
  u, vv = v["batch_stats"]["u"], v["batch_stats"]["v"]
  w = k.transpose(3, 2, 0, 1).reshape(4, -1)
  sigma = u @ w @ vv
  # d/dW Σ(W/σ) = 1/σ − Σ(W)/σ² · u vᵀ
  expect = 1 / sigma - jnp.sum(w) / sigma**2 * jnp.outer(u, vv)
  np.testing.assert_allclose(g.transpose(3, 2, 0, 1).reshape(4, -1), expect, rtol=1e-4, atol=1e-6)


def test_nearest_resize_matches_floor_rule():
  x = jnp.arange(2 * 7 * 5).reshape(1, 7, 5, 2).astype(jnp.float32)
  y = nearest_resize(x, (3, 4))
  iy = np.floor(np.arange(3) * 7 / 3).astype(int)
  ix = np.floor(np.arange(4) * 5 / 4).astype(int)
  np.testing.assert_array_equal(y, np.asarray(x)[:, iy][:, :, ix])
  np.testing.assert_array_equal(nearest_resize(x, (14, 10)), np.asarray(x).repeat(2, 1).repeat(2, 2))
  x8 = jnp.arange(64.0).reshape(1, 8, 8, 1)
  np.testing.assert_array_equal(nearest_resize(x8, (2, 2))[0, :, :, 0], [[0, 4], [32, 36]])
  np.testing.assert_array_equal(upsample2x(x8), np.asarray(x8).repeat(2, 1).repeat(2, 2))


def test_avg_pool_excludes_padding():
  x = jnp.ones((1, 5, 5, 1))
  np.testing.assert_allclose(avg_pool_3x3_s2(x), np.ones((1, 3, 3, 1)))
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  y = avg_pool_3x3_s2(x)
  assert y.shape == (1, 2, 2, 1)
  np.testing.assert_allclose(y[0, 0, 0, 0], np.mean([0, 1, 4, 5]))  # corner: 4 valid pixels
  np.testing.assert_allclose(y[0, 1, 1, 0], np.mean([5, 6, 7, 9, 10, 11, 13, 14, 15]))


def test_instance_edges_official_rule():
  inst = np.zeros((1, 4, 5), np.int32)
  inst[0, :, 3:] = 7  # vertical boundary between columns 2 and 3
  inst[0, 3, 0] = 2   # single pixel in the bottom-left corner
  e = np.asarray(instance_edges(jnp.asarray(inst)))[0]
  expect = np.zeros((4, 5))
  expect[:, 2:4] = 1            # both sides of the column boundary
  expect[3, 0] = expect[3, 1] = 1  # horizontal neighbours of the odd pixel
  expect[2, 0] = 1                 # its vertical neighbour
  np.testing.assert_array_equal(e, expect)
  assert np.asarray(instance_edges(jnp.zeros((1, 3, 3), jnp.int32))).sum() == 0  # borders are no edges


def test_to_semantics_channels_and_dontcare():
  label = jnp.array([[[0, 1], [3, 2]]])  # 3 = don't-care id for label_nc=3
  inst = jnp.array([[[1, 1], [1, 2]]])
  sem = np.asarray(to_semantics(label, inst, label_nc=3, contain_dontcare_label=True, no_instance=False))
  assert sem.shape == (1, 2, 2, semantic_nc(3, True, False)) == (1, 2, 2, 5)
  np.testing.assert_array_equal(sem[0, 1, 0, :4], [0, 0, 0, 1])  # don't-care has its own channel
  np.testing.assert_array_equal(sem[0, :, :, 4], [[0, 1], [1, 1]])  # edge channel last
  sem2 = to_semantics(label[:, :1], None, label_nc=3, contain_dontcare_label=False, no_instance=True)
  assert sem2.shape == (1, 1, 2, 3)
  with pytest.raises(ValueError, match="no_instance=False needs an instance map"):
    to_semantics(label, None, label_nc=3, contain_dontcare_label=False, no_instance=False)
