"""The convolution lowerings (library / matmul / one-hot lookup) and the spectral-norm layout: same numbers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spade_jax.data.labels import onehot_ids
from spade_jax.nn import convolution, norms
from spade_jax.nn.modulation import SPADE

RNG = np.random.default_rng(0)


def _arr(*shape, scale=1.0):
  return jnp.asarray(RNG.normal(size=shape).astype(np.float32) * scale)


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30))


@pytest.mark.parametrize("b,h,cin,cout,k,s,p", [(2, 5, 6, 7, 3, 1, 1), (2, 8, 5, 4, 4, 2, 2),
                                                (3, 6, 4, 6, 4, 1, 2), (2, 4, 3, 5, 1, 1, 0)])
def test_matmul_lowerings_match_library_forward_and_gradients(b, h, cin, cout, k, s, p):
  x, w = _arr(b, h, h, cin), _arr(k, k, cin, cout, scale=0.3)
  dy = _arr(b, *convolution.output_hw(h, h, k, s, p), cout)
  outs = {}
  for impl in ("library", "matmul", "library_mmgrad"):
    y, vjp = jax.vjp(lambda x, w, impl=impl: convolution.conv2d(x, w, s, p, impl), x, w)
    outs[impl] = (y,) + vjp(dy)
  for impl in ("matmul", "library_mmgrad"):
    for name, a, r in zip(("y", "dx", "dw"), outs[impl], outs["library"]):
      assert a.shape == r.shape
      assert _rel(a, r) < 1e-5, f"{impl} {name}"


def test_auto_lowering_choice_and_bad_impl():
  assert jax.default_backend() == "cpu"
  # 1024-channel 3x3 conv on a 2x2 map (SPADE's stem at 64x64): 8 output rows <= 2 * 1024 → matmul
  assert convolution.choose_impl((2, 2, 2, 1024), (3, 3, 1024, 1024), 1, 1) == "matmul"
  # 64x64 map, 128 → 64 channels: 8192 rows → library convolution, kernel gradient as a matmul
  assert convolution.choose_impl((2, 64, 64, 128), (3, 3, 128, 64), 1, 1) == "library_mmgrad"
  assert convolution.choose_impl((2, 2, 2, 8), (3, 3, 8, 8), 1, 1, "library") == "library"
  with pytest.raises(ValueError, match="conv impl='fast': expected one of"):
    convolution.choose_impl((2, 2, 2, 8), (3, 3, 8, 8), 1, 1, "fast")


def test_xla_flags_merge_keeps_the_users_setting(monkeypatch):
  from spade_jax import xla_flags
  merged = xla_flags.merge_flags("--xla_cpu_use_xnnpack=true --foo=1", xla_flags.flags_for("cpu", "bfloat16"))
  assert "--xla_cpu_use_xnnpack=true" in merged and "--xla_cpu_use_xnnpack=false" not in merged
  assert "--xla_cpu_use_onednn=true" in merged and merged.startswith("--xla_cpu_use_xnnpack=true --foo=1")
  assert xla_flags.merge_flags("", ()) == ""
  # oneDNN custom calls only for bf16 (their executables cannot be stored in the persistent cache)
  assert not any("onednn" in f for f in xla_flags.flags_for("cpu", "float32"))
  assert xla_flags.flags_for("tpu") == () and xla_flags.flags_for("cuda", "bfloat16") == ()


def test_onehot_lookup_matches_dense_convolution_and_its_kernel_gradient():
  ids = jnp.asarray(RNG.integers(-1, 9, (2, 7, 6)))  # 7 classes; -1, 7, 8: all-zero pixels
  edge = jnp.asarray(RNG.integers(0, 2, (2, 7, 6, 1)).astype(np.float32))
  w = _arr(3, 3, 8, 5)
  dense = lambda w: convolution.conv2d(jnp.concatenate([jax.nn.one_hot(ids, 7), edge], -1), w, 1, 1,  # noqa: E731
                                       "library")
  lookup = lambda w: convolution.onehot_conv2d(ids, w, 1, edge)  # noqa: E731
  dy = _arr(2, 7, 6, 5)
  (yd, vd), (yl, vl) = jax.vjp(dense, w), jax.vjp(lookup, w)
  assert yl.shape == yd.shape
  assert _rel(yl, yd) < 1e-6
  assert _rel(vl(dy)[0], vd(dy)[0]) < 1e-6
  # no extra channel, 5x5 kernel
  w5 = _arr(5, 5, 7, 3)
  np.testing.assert_allclose(convolution.onehot_conv2d(ids, w5, 2),
                             convolution.conv2d(jax.nn.one_hot(ids, 7), w5, 1, 2, "library"), atol=1e-5)


def test_onehot_ids_inverts_one_hot():
  ids = jnp.asarray(RNG.integers(0, 6, (2, 4, 5)))  # 5 classes; 5 = outside → all-zero pixel
  np.testing.assert_array_equal(onehot_ids(jax.nn.one_hot(ids, 5)), ids)


def test_spade_lookup_path_same_outputs_gradients_and_parameters():
  ids = jnp.asarray(RNG.integers(0, 6, (2, 16, 16)))
  edge = jnp.asarray(RNG.integers(0, 2, (2, 16, 16, 1)).astype(np.float32))
  seg = jnp.concatenate([jax.nn.one_hot(ids, 6), edge], -1)
  cond = {"segmap": seg, "instance_edge": edge}
  cond_ids = dict(cond, label_ids=onehot_ids(seg[..., :-1]))
  x = _arr(2, 8, 8, 4)
  layer = SPADE(param_free="syncbatch", nhidden=8)
  v = layer.init(jax.random.PRNGKey(0), x, cond, True)
  v_ids = layer.init(jax.random.PRNGKey(0), x, cond_ids, True)
  jax.tree.map(np.testing.assert_array_equal, v, v_ids)  # same parameter tree and initial values

  def loss(params, c):
    y, _ = layer.apply({"params": params, "batch_stats": v["batch_stats"]}, x, c, True, mutable=["batch_stats"])
    return jnp.sum(jnp.square(y)), y

  (_, y0), g0 = jax.value_and_grad(loss, has_aux=True)(v["params"], cond)
  (_, y1), g1 = jax.value_and_grad(loss, has_aux=True)(v["params"], cond_ids)
  np.testing.assert_allclose(y1, y0, atol=1e-5)
  for a, r in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
    assert _rel(a, r) < 1e-4


def _torch_order_sigma(kernel, u, v):
  """The PyTorch formulation: W = kernel as [out, in·kh·kw]; one power iteration; sigma = uᵀWv."""
  k = np.asarray(kernel, np.float64)
  w = k.transpose(3, 2, 0, 1).reshape(k.shape[-1], -1)
  v1 = w.T @ u
  v1 /= np.linalg.norm(v1)
  u1 = w @ v1
  u1 /= np.linalg.norm(u1)
  return u1 @ w @ v1, u1, v1


@pytest.mark.parametrize("divide_smaller", [True, False])
def test_spectral_conv_without_kernel_transposes_matches_torch_formulation(divide_smaller, monkeypatch):
  monkeypatch.setattr(norms, "SPECTRAL_DIVIDE_SMALLER", divide_smaller)
  conv = norms.Conv(16, 3, spectral=True)
  x = _arr(1, 2, 2, 12)  # kernel (3·3·12·16) larger than the output (1·2·2·16): output divided
  v = conv.init(jax.random.PRNGKey(1), x, True)
  y, upd = conv.apply(v, x, True, mutable=["batch_stats"])
  u0, v0 = np.asarray(v["batch_stats"]["u"], np.float64), np.asarray(v["batch_stats"]["v"], np.float64)
  sigma, u1, v1 = _torch_order_sigma(v["params"]["kernel"], u0, v0)
  np.testing.assert_allclose(upd["batch_stats"]["u"], u1, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(upd["batch_stats"]["v"], v1, rtol=1e-5, atol=1e-6)
  ref = convolution.conv2d(x, v["params"]["kernel"] / sigma, 1, 1, "library") + v["params"]["bias"]
  np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)

  def loss(params):
    out, _ = conv.apply({"params": params, "batch_stats": v["batch_stats"]}, x, True, mutable=["batch_stats"])
    return jnp.sum(jnp.square(out))

  def loss_ref(kernel):  # sigma through W with u, v constant, as PyTorch
    w = kernel.transpose(3, 2, 0, 1).reshape(16, -1)
    s = jnp.asarray(u1, jnp.float32) @ (w @ jnp.asarray(v1, jnp.float32))
    return jnp.sum(jnp.square(convolution.conv2d(x, kernel / s, 1, 1, "library") + v["params"]["bias"]))

  g = jax.grad(loss)(v["params"])["kernel"]
  g_ref = jax.grad(loss_ref)(v["params"]["kernel"])
  assert _rel(g, g_ref) < 1e-5


def test_conv_module_uses_matmul_for_small_outputs_with_same_numbers(monkeypatch):
  x = _arr(2, 2, 2, 32)
  conv = norms.Conv(64, 3, spectral=True)
  v = conv.init(jax.random.PRNGKey(2), x, True)
  y_auto, _ = conv.apply(v, x, True, mutable=["batch_stats"])
  y_lib, _ = norms.Conv(64, 3, spectral=True, impl="library").apply(v, x, True, mutable=["batch_stats"])
  np.testing.assert_allclose(y_auto, y_lib, rtol=1e-5, atol=1e-6)
  text = jax.jit(functools.partial(conv.apply, train=False)).lower(v, x).as_text()
  assert "convolution" not in text and "dot_general" in text


def test_xla_flags_can_be_turned_off(monkeypatch):
  from spade_jax import xla_flags
  monkeypatch.setenv("XLA_FLAGS", "--foo=1")
  monkeypatch.setenv("SPADE_JAX_XLA_FLAGS", "0")
  assert xla_flags.configure("cpu", dtype="bfloat16", cache=False) == "--foo=1"
