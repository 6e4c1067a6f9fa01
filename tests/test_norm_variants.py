"""Normalization variants (issue #7): registration, generator shapes and gradients for every variant,
parameter counts at the ADE20K config, and the property that defines each variant:
CLADE's γ/β are a per-class lookup (constant inside a class region), ICPE's map matches the official
connected-component algorithm, SEAN changes only the region whose style code changes, the baselines
have no modulation parameters and take the label map at the input.

Compiling a whole generator on XLA:CPU costs tens of seconds per variant, so generator-level checks use
`jax.eval_shape` (shapes, differentiability of the traced G) and numerics run on single layers.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model_utils import load_config, tiny_config
from spade_jax.models.spade.model import SPADEModel
from spade_jax.nn.clade import (CLADE, ICPEDist, connected_components, icpe_dist_map, icpe_dist_map_numpy)
from spade_jax.nn.modulation import (MODULATIONS, SPADE, Modulation, PlainNorm, generator_hooks,
                                     make_modulation)
from spade_jax.nn.norms import ParamFreeNorm
from spade_jax.nn.sean import ACE, Zencoder, broadcast_styles, region_average


def n_params(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


VARIANTS = ["spade", "clade", "clade_icpe", "sean", "batch", "instance", "group"]
LABEL_NC = 5  # tiny_config
STYLE = 8


def variant_config(norm, **overrides):
  c = tiny_config(**{"model.norm": norm, "data.crop_size": 32, **overrides})
  c.model.sean_style_dim = STYLE
  return c


def g_shapes(model, batch=2):
  """G variables, as shapes, initialised with the model's conditioning (style image included)."""
  h, w = model.image_hw
  seg = jax.ShapeDtypeStruct((batch, h, w, model.semantic_nc), jnp.float32)
  img = jax.ShapeDtypeStruct((batch, h, w, 3), jnp.float32)
  z = jax.ShapeDtypeStruct((batch, model.config.model.z_dim), jnp.float32) if model.config.model.use_vae else None
  k = jax.random.key(0)
  init = lambda s, i, z: model.G.init({"params": k, "noise": k}, model.conditioning(s, i), z, train=True)
  return jax.eval_shape(init, seg, img, z), seg, img, z


def one_hot_cond(label, n_classes, edge=None):
  cond = {"segmap": jax.nn.one_hot(label, n_classes)}
  if edge is not None:
    cond["segmap"] = jnp.concatenate([cond["segmap"], edge[..., None]], -1)
    cond["instance_edge"] = edge[..., None]
  return cond


# [1, 8, 8]: two disjoint regions of class 1; a class-2 block and a class-2 pixel touching it only
# diagonally (one 8-connected component); a class-4 block; class 0 around; class 3 absent.
LABEL = np.array([[0, 0, 0, 0, 0, 0, 0, 0],
                  [0, 1, 1, 0, 0, 0, 2, 2],
                  [0, 1, 1, 0, 0, 0, 2, 2],
                  [0, 0, 0, 0, 0, 2, 0, 0],
                  [0, 0, 0, 0, 4, 4, 4, 0],
                  [1, 1, 0, 0, 4, 4, 4, 0],
                  [1, 1, 0, 0, 0, 0, 0, 0],
                  [1, 1, 0, 0, 0, 0, 0, 0]], np.int32)[None]


# ------------------------------------------------------------------------------------------------
# registration and the generator skeleton
# ------------------------------------------------------------------------------------------------

def test_variants_are_registered_and_spade_factory_is_unchanged():
  assert set(VARIANTS) | {"plain"} <= set(MODULATIONS)
  factory = make_modulation(tiny_config().model)
  assert isinstance(factory, functools.partial) and factory.func is SPADE  # the SPADE path is untouched
  assert generator_hooks(factory) == (None, False)
  for name in VARIANTS[1:]:
    m = make_modulation(tiny_config(**{"model.norm": name}).model)
    assert isinstance(m, Modulation)
  assert generator_hooks(make_modulation(tiny_config(**{"model.norm": "batch"}).model))[1] is True


@pytest.mark.parametrize("norm", VARIANTS)
def test_generator_shapes_and_gradients(norm):
  """Every variant builds the same skeleton, generates [B, H, W, 3], and G's loss is differentiable
  w.r.t. all its parameters (traced: reverse mode through every layer, ICPE's while-loop included)."""
  model = SPADEModel(variant_config(norm))
  v, seg, img, _ = g_shapes(model)
  p = v["params"]
  assert {"fc", "head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3", "conv_img"} <= set(p)

  def loss(params, stats, s, i):
    fake, _ = model.G.apply({"params": params, "batch_stats": stats}, model.conditioning(s, i), None,
                            train=True, mutable=["batch_stats"], rngs={"noise": jax.random.key(1)})
    return jnp.mean(fake ** 2), fake

  grads, fake = jax.eval_shape(jax.grad(loss, has_aux=True), p, v["batch_stats"], seg, img)
  assert fake.shape == (2, 32, 32, 3)
  assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(p)

  k, c = LABEL_NC, 64  # class channels (no don't-care in tiny_config); head_0 width 16·ngf
  norm0 = p["head_0"].get("norm_0", {})
  if norm == "spade":
    assert norm0["mlp_shared"]["kernel"].shape == (3, 3, model.semantic_nc, 8)
  elif norm in ("clade", "clade_icpe"):
    assert norm0["gamma"].shape == norm0["beta"].shape == (k, c)  # the edge channel is not a class
    assert norm0["inst_conv"]["kernel"].shape == (1, 1, 1, 1)
    assert p["head_0"]["conv_0"]["kernel"].shape[2] == c + 1  # the edge feature is concatenated
    assert ("dist_conv_w" in norm0) == (norm == "clade_icpe")
    assert "mlp_shared" not in norm0
  elif norm == "sean":  # the real SEAN layers (spade_jax.nn.sean), one Linear per segmap channel
    assert "style_encoder" in p and p["style_encoder"]["model_14"]["kernel"].shape[-1] == STYLE
    assert norm0["fc_mu_kernel"].shape == (model.semantic_nc, STYLE, STYLE)  # the edge channel has a style
    assert norm0["conv_gamma"]["kernel"].shape == (3, 3, STYLE, c)
    assert norm0["Spade"]["mlp_shared"]["kernel"].shape == (3, 3, model.semantic_nc, 8)
    for name in ("norm_0", "norm_1", "norm_s"):  # the last block has no style branch, as officially
      assert set(p["up_3"][name]) == {"noise_var", "blending_gamma", "blending_beta", "Spade"}
  else:
    assert not any(n.startswith("norm_") for blk in p.values() for n in blk)  # parameter-free
    assert p["fc"]["kernel"].shape == (3, 3, model.semantic_nc, c)  # the label map is the input


def test_baselines_concatenate_the_label_map_to_a_vae_stem():
  model = SPADEModel(variant_config("group", **{"model.use_vae": True}))
  v, *_ = g_shapes(model)
  # head_0 sees 16·ngf + semantic_nc channels → learned shortcut (conv_s) appears
  assert v["params"]["head_0"]["conv_s"]["kernel"].shape == (1, 1, 64 + model.semantic_nc, 64)
  spade = SPADEModel(variant_config("spade", **{"model.use_vae": True}))
  assert "conv_s" not in g_shapes(spade)[0]["params"]["head_0"]


ADE20K_SUM_C = 6 * 1024 + (1024 + 1024 + 512) + (512 + 512 + 256) + (256 + 256 + 128) + (128 + 128 + 64)


def test_ade20k_parameter_counts():
  """The bench's parameter column, derived by hand: SPADE = official 96.49M; the batch baseline = SPADE
  minus its mlp convs; CLADE adds 2·K·C per layer (K = 151, no instance map); ICPE 2 × (2→1 conv)."""
  counts = {}
  for norm in ("spade", "batch", "clade", "clade_icpe"):
    config = load_config("spade/ade20k")
    config.model.norm = norm
    counts[norm] = n_params(g_shapes(SPADEModel(config), batch=1)[0]["params"])
  assert counts["spade"] == 96_492_483
  assert counts["batch"] == 68_122_179
  assert counts["clade"] == counts["batch"] + 2 * 151 * ADE20K_SUM_C
  assert counts["clade_icpe"] == counts["clade"] + 18 * 2 * 3  # 18 layers, two 1×1 convs (2 w + 1 b)


# ------------------------------------------------------------------------------------------------
# CLADE / ICPE
# ------------------------------------------------------------------------------------------------

def _clade_apply(layer, cond, x, train=True):
  v = layer.init(jax.random.key(0), x, cond, train)
  out, upd = layer.apply(v, x, cond, train, mutable=["intermediates", "batch_stats"])
  return v, out, upd["intermediates"]


def test_clade_gamma_is_constant_inside_a_class_region():
  label = jnp.asarray(LABEL)
  x = jax.random.normal(jax.random.key(1), (1, 8, 8, 4)) * 3 + 1
  edge = jnp.asarray(np.random.default_rng(0).integers(0, 2, (1, 8, 8)), jnp.float32)
  cond = one_hot_cond(label, 5, edge)
  layer = CLADE(param_free="instance")
  v, out, inter = _clade_apply(layer, cond, x)
  gamma, beta = inter["gamma"][0], inter["beta"][0]
  table_g, table_b = v["params"]["gamma"], v["params"]["beta"]
  assert table_g.shape == (5, 4)  # the edge channel is not a class
  assert float(table_g.min()) >= 0 and float(table_g.max()) <= 1 and not np.any(table_b)  # U(0,1), zeros
  np.testing.assert_array_equal(gamma, table_g[label])  # lookup: constant per class, same for both
  np.testing.assert_array_equal(beta, table_b[label])   # regions of class 1
  normalized = ParamFreeNorm("instance").apply({}, x, True)
  np.testing.assert_allclose(out[..., :4], normalized * gamma + beta, rtol=1e-6, atol=1e-6)  # no "1 +"
  w = v["params"]["inst_conv"]
  np.testing.assert_allclose(out[..., 4], edge * w["kernel"][0, 0, 0, 0] + w["bias"][0], atol=1e-7)

  def loss(params, x):
    return jnp.sum(layer.apply({"params": params}, x, cond, True) ** 2)

  g_params, g_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(v["params"], x)
  assert np.all(np.isfinite(g_x)) and float(jnp.abs(g_x).sum()) > 0
  present = np.isin(np.arange(5), np.unique(LABEL))
  assert np.all(np.abs(g_params["gamma"][present]).sum(-1) > 0)
  assert not np.any(g_params["gamma"][~present])  # class 3 is absent: its row gets no gradient
  assert float(jnp.abs(g_params["inst_conv"]["kernel"]).sum()) > 0


def test_connected_components_use_8_connectivity():
  lab = np.asarray(connected_components(jnp.asarray(LABEL)))[0]
  # the class-2 block and the single class-2 pixel touching it diagonally are one component
  assert lab[1, 6] == lab[3, 5] == 1 * 8 + 6
  assert lab[1, 1] != lab[5, 0]  # the two class-1 regions are separate components
  assert lab[0, 0] == 0 and lab[4, 4] == 4 * 8 + 4


def _blobs(seed, b=2, h=32, w=32, n=6):
  rng = np.random.default_rng(seed)
  coarse = rng.integers(0, n, (b, h // 4, w // 4))
  return np.repeat(np.repeat(coarse, 4, 1), 4, 2).astype(np.int32)


def test_icpe_dist_map_matches_the_official_algorithm():
  f = jax.jit(icpe_dist_map)
  for label in (LABEL, _blobs(0), _blobs(1)[:, :24]):
    got = np.asarray(f(jnp.asarray(label)))
    want = np.stack([icpe_dist_map_numpy(l) for l in label])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got).max() <= 1.0
  assert not np.any(np.asarray(f(jnp.asarray(LABEL)))[0][LABEL[0] == 0])  # class 0 is skipped


def test_icpe_modulates_gamma_inside_a_region():
  label = jnp.asarray(LABEL)
  cond = ICPEDist().apply({}, one_hot_cond(label, 5), False)
  np.testing.assert_allclose(cond["dist"], icpe_dist_map(label), atol=0)
  x = jax.random.normal(jax.random.key(1), (1, 8, 8, 4))
  layer = CLADE(param_free="batch", use_dist=True)
  v = layer.init(jax.random.key(0), x, cond, True)
  params = jax.tree_util.tree_map(lambda a: a, v["params"])
  params["dist_conv_w"] = {"kernel": jnp.ones((1, 1, 2, 1)), "bias": jnp.zeros(1)}
  params["beta"] = jnp.full_like(params["beta"], 0.5)  # zero-initialised: ICPE's β term needs β ≠ 0
  _, inter = layer.apply({**v, "params": params}, x, cond, True, mutable=["intermediates", "batch_stats"])
  gamma = np.asarray(inter["intermediates"]["gamma"][0][0])
  d = np.asarray(cond["dist"][0])
  want = np.asarray(params["gamma"])[LABEL[0]] * (1 + d.sum(-1, keepdims=True))
  np.testing.assert_allclose(gamma, want, rtol=1e-6)
  region = LABEL[0] == 4
  assert np.ptp(gamma[region], axis=0).max() > 0.1  # no longer constant inside the class region

  def loss(p):
    return jnp.sum(layer.apply({**v, "params": p}, x, cond, True, mutable=["batch_stats"])[0] ** 2)

  g = jax.jit(jax.grad(loss))(params)
  assert float(jnp.abs(g["dist_conv_w"]["kernel"]).sum()) > 0 and float(jnp.abs(g["dist_conv_b"]["kernel"]).sum()) > 0


# ------------------------------------------------------------------------------------------------
# SEAN
# ------------------------------------------------------------------------------------------------

def _ace_setup(kernel_size):
  label = jnp.asarray(LABEL)
  cond = one_hot_cond(label, 5)
  rng = np.random.default_rng(0)
  cond["style"] = jnp.asarray(rng.normal(size=(1, 5, STYLE)), jnp.float32)
  x = jax.random.normal(jax.random.key(1), (1, 8, 8, 4))
  layer = ACE(kernel_size=kernel_size, nhidden=4)  # 19 style Linear layers, as officially
  v = layer.init(jax.random.key(0), x, cond, True)
  return layer, v, cond, x


def _ace_apply(layer, v, x, cond, **kw):
  """Training mode (batch statistics; the updated running statistics are dropped)."""
  return layer.apply(v, x, cond, True, mutable=["batch_stats"], **kw)[0]


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_sean_changes_only_the_region_whose_style_code_changes(kernel_size):
  layer, v, cond, x = _ace_setup(kernel_size)
  f = jax.jit(lambda c: _ace_apply(layer, v, x, c))
  base = np.asarray(f(cond))
  for j in (1, 4):
    style = cond["style"].at[0, j].add(1.0)
    diff = np.abs(np.asarray(f({**cond, "style": style})) - base).max(-1)[0]
    region = LABEL[0] == j
    from scipy import ndimage  # conv_gamma/beta (3×3 whatever the SPADE kernel) spread it by one pixel
    region = ndimage.binary_dilation(region, np.ones((3, 3), bool))
    assert not np.any(diff[~region]), j
    assert np.all(diff[LABEL[0] == j] > 0), j
  absent = cond["style"].at[0, 3].add(5.0)  # class 3 has no pixels
  np.testing.assert_array_equal(f({**cond, "style": absent}), base)


def test_sean_style_broadcast_later_channel_wins():
  """Overlapping channels (an instance-edge channel over the classes): the later channel's style,
  zero where no channel is set."""
  mu = jnp.asarray(np.arange(3 * 2, dtype=np.float32).reshape(1, 3, 2) + 1)
  seg = np.zeros((1, 2, 2, 3), np.float32)
  seg[0, 0, 0, 0] = 1                     # class 0 only
  seg[0, 0, 1, [0, 2]] = 1                # class 0 and the edge channel
  seg[0, 1, 0, [1, 2]] = 1                # class 1 and the edge channel
  out = np.asarray(broadcast_styles(mu, jnp.asarray(seg)))[0]
  np.testing.assert_array_equal(out[0, 0], mu[0, 0])
  np.testing.assert_array_equal(out[0, 1], mu[0, 2])
  np.testing.assert_array_equal(out[1, 0], mu[0, 2])
  np.testing.assert_array_equal(out[1, 1], [0, 0])


@pytest.mark.parametrize("k,s", [(3, 16), (40, 4)])  # the lookup (K < S) and the dense path
def test_sean_region_conv_equals_the_conv_of_the_style_map(k, s):
  from spade_jax.nn.norms import Conv
  from spade_jax.nn.sean import RegionConv, winner_masks
  rng = np.random.default_rng(0)
  seg = (rng.uniform(size=(2, 6, 5, k)) < 0.3).astype(np.float32)  # overlaps and empty pixels included
  mu = jnp.asarray(rng.normal(size=(2, k, s)), jnp.float32)
  winner = winner_masks(jnp.asarray(seg))
  layer = RegionConv(7)
  v = layer.init(jax.random.key(0), mu, winner)
  v = {"params": {"kernel": v["params"]["kernel"], "bias": jnp.arange(7.0)}}
  want = Conv(7, 3).apply(v, broadcast_styles(mu, jnp.asarray(seg)))
  np.testing.assert_allclose(layer.apply(v, mu, winner), want, rtol=1e-5, atol=1e-5)
  g = jax.grad(lambda m: jnp.sum(layer.apply(v, m, winner) ** 2))(mu)
  g_want = jax.grad(lambda m: jnp.sum(Conv(7, 3).apply(v, broadcast_styles(m, jnp.asarray(seg))) ** 2))(mu)
  np.testing.assert_allclose(g, g_want, rtol=1e-4, atol=1e-4)


def test_sean_ace_blend_noise_and_gradients():
  layer, v, cond, x = _ace_setup(3)
  p = v["params"]
  assert p["fc_mu_kernel"].shape == (19, STYLE, STYLE) and float(p["blending_gamma"][0]) == 0.0
  assert set(v["batch_stats"]["param_free_norm"]) == {"mean", "var"}  # always sync BN, as officially
  f = jax.jit(lambda v, key: _ace_apply(layer, v, x, cond, rngs={"noise": key}))
  # noise_var = 0: the noise adds exactly nothing (same compiled program, two different draws), and
  # the result is the noise-free layer's (eager vs jit: float32 reassociation only)
  np.testing.assert_array_equal(f(v, jax.random.key(1)), f(v, jax.random.key(2)))
  np.testing.assert_allclose(f(v, jax.random.key(1)), _ace_apply(layer, v, x, cond), rtol=1e-6, atol=1e-6)
  noisy = {**v, "params": {**p, "noise_var": jnp.ones(4)}}
  assert float(jnp.abs(f(noisy, jax.random.key(1)) - f(noisy, jax.random.key(2))).max()) > 0
  # a given draw (official layout [B, W, H, 1]) replaces the RNG's: transposed, one value per pixel
  draw = jax.random.normal(jax.random.key(5), (1, 8, 8, 1))
  given = {**cond, "noise": {"": draw}}  # the layer alone has the empty path
  a = _ace_apply(layer, noisy, x, given, rngs={"noise": jax.random.key(1)})
  b = _ace_apply(layer, v, x + jnp.swapaxes(draw, 1, 2), cond)
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

  def loss(params):
    out = _ace_apply(layer, {**v, "params": params}, x, cond, rngs={"noise": jax.random.key(1)})
    return jnp.sum(out ** 2)

  g = jax.jit(jax.grad(loss))({**p, "noise_var": jnp.ones(4)})
  for name in ("mlp_shared", "mlp_gamma", "mlp_beta"):
    assert float(jnp.abs(g["Spade"][name]["kernel"]).sum()) > 0, name
  for name in ("conv_gamma", "conv_beta"):
    assert float(jnp.abs(g[name]["kernel"]).sum()) > 0, name
  for name in ("blending_gamma", "blending_beta", "noise_var"):
    assert float(jnp.abs(g[name]).sum()) > 0, name
  present = np.isin(np.arange(19), np.unique(LABEL))
  assert np.all(np.abs(g["fc_mu_kernel"][present]).sum((1, 2)) > 0)
  assert not np.any(g["fc_mu_kernel"][~present])  # absent classes and fc_mu5..18: exactly no gradient


def test_sean_style_codes_are_region_means():
  feats = jax.random.normal(jax.random.key(0), (1, 8, 8, 3))
  classes = jax.nn.one_hot(jnp.asarray(LABEL), 5)
  codes = np.asarray(region_average(feats, classes))
  f = np.asarray(feats)[0]
  for j in range(5):
    m = LABEL[0] == j
    np.testing.assert_allclose(codes[0, j], f[m].mean(0) if m.any() else 0, atol=1e-6)
  enc = Zencoder(style_length=STYLE, ngf=4)
  img = jax.random.uniform(jax.random.key(1), (1, 16, 16, 3), minval=-1, maxval=1)
  cond = one_hot_cond(jnp.repeat(jnp.repeat(jnp.asarray(LABEL), 2, 1), 2, 2), 5)
  cond["style_image"] = img
  v = enc.init(jax.random.key(0), cond, True)
  out = enc.apply(v, cond, True)
  assert out["style"].shape == (1, 5, STYLE) and not np.any(out["style"][0, 3])  # absent class → 0
  np.testing.assert_array_equal(out["style_presence"][0], np.isin(np.arange(5), np.unique(LABEL)))
  given = out["style"] * 2  # codes supplied by the caller (style editing) are used as they are
  assert enc.apply(v, {**cond, "style": given}, True)["style"] is given


def test_sean_generator_needs_a_style_image_or_codes():
  model = SPADEModel(variant_config("sean"))
  v, seg, img, _ = g_shapes(model)
  variables = {"G": v}
  with pytest.raises(ValueError, match="needs a style image"):
    jax.eval_shape(lambda v, s: model.generate(v, s)[0], variables, seg)
  codes = jax.ShapeDtypeStruct((2, model.semantic_nc, STYLE), jnp.float32)  # one row per segmap channel
  fake = jax.eval_shape(lambda v, s, c: model.generate(v, s, cond={"style": c})[0], variables, seg, codes)
  assert fake.shape == (2, 32, 32, 3)


# ------------------------------------------------------------------------------------------------
# baselines
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["syncbatch", "instance", "group"])
def test_plain_norm_baselines(kind):
  x = jax.random.normal(jax.random.key(0), (2, 4, 4, 70)) * 2 + 3  # 70 = 64 + a concatenated label map
  layer = PlainNorm(param_free=kind)
  v = layer.init(jax.random.key(0), x, {}, True)
  assert not v.get("params")
  y, _ = layer.apply(v, x, {}, True, mutable=["batch_stats"])
  axes = {"syncbatch": (0, 1, 2), "instance": (1, 2)}.get(kind)
  if axes is None:  # group norm: gcd(32, 70) = 2 groups of 35 channels
    yg = np.asarray(y).reshape(2, 4, 4, 2, 35)
    np.testing.assert_allclose(yg.mean((1, 2, 4)), 0, atol=1e-5)
  else:
    np.testing.assert_allclose(np.asarray(y).mean(axes), 0, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# the benchmark's report (bench/norms_report.py; measuring itself is exercised by running the bench)
# ------------------------------------------------------------------------------------------------

def test_bench_report_verdict_table_and_chart(tmp_path):
  import importlib.util
  import pathlib
  path = pathlib.Path(__file__).resolve().parents[1] / "bench" / "norms_report.py"
  spec = importlib.util.spec_from_file_location("norms_report", path)
  report = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(report)
  row = lambda p, f, pp, fp: {"g_params": p, "norm_params": 0, "g_flops": f, "iter_flops": 3 * f,
                              "params_vs_batch_pct": pp, "flops_vs_batch_pct": fp, "ms_per_iter": 10.0,
                              "images_per_s": 100.0, "peak_memory_bytes": 2**20}
  variants = {"batch": row(68e6, 81e9, 0.0, 0.0), "spade": row(96e6, 356e9, 41.65, 336.49),
              "clade": row(71e6, 82e9, 4.85, 0.24)}
  verdict = report.clade_verdict(variants)
  assert verdict["holds"] and "+41.65% params / +336.49% FLOPs" in verdict["verdict"]
  assert not report.clade_verdict({**variants, "clade": row(90e6, 300e9, 30.0, 200.0)})["holds"]
  cfg = {"crop_size": 256, "ngf": 64, "label_nc": 150, "batch_size": 1}
  result = {"config": {"name": "ade20k", "full": cfg, "timing": cfg, "flops_from": "compiled",
                       "iter_flops_from": "lowered", "timed_iters": 5},
            "device": {"description": "cpu", "platform": "cpu"}, "date": "today", "variants": variants,
            "clade_claim": verdict}
  md = report.markdown(result)
  assert "| spade | 96.00 | +41.65% |" in md and "Holds qualitatively" in md
  report.bar_chart(result, str(tmp_path / "chart.png"))
  assert (tmp_path / "chart.png").stat().st_size > 1000
