"""SinGAN pre-processing: imresize (MATLAB-style, uint8 round trip), image reading, pyramid rules,
per-scale widths; parity with every `imresize/*` and `pyramid/*` record of the fixtures."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import singan_fixtures as fx
from spade_jax.models.singan import image as img
from spade_jax.models.singan import imresize as imr
from spade_jax.models.singan import pyramid as pyr


@fx.params()
def test_imresize_parity(fixture_name):
  f = fx.load(fixture_name)
  for key, src in (("imresize/input_uint8", "input/real_full"), ("imresize/rand_uint8", "imresize/rand_in")):
    if key in f.keys:
      np.testing.assert_array_equal(imr.to_uint8_np(f.nhwc(src))[0], f.raw(key), err_msg=key)
  entries = f.meta["imresize"]
  assert entries
  for e in entries:
    x = f.nhwc(e["input"])
    kw = {"scale": e["scale"]} if "scale" in e else {"output_shape": e["output_shape"]}
    ref = f.nhwc(e["key"])
    ours_np = imr.imresize_np(x, **kw)
    assert ours_np.shape == ref.shape, e["key"]
    np.testing.assert_allclose(ours_np, ref, atol=1e-6, rtol=0, err_msg=e["key"])
    ours_jax = np.asarray(imr.imresize(jnp.asarray(x), **kw))
    np.testing.assert_allclose(ours_jax, ref, atol=1e-6, rtol=0, err_msg=e["key"] + " (jax)")


@fx.params()
def test_pyramid_parity(fixture_name):
  f = fx.load(fixture_name)
  o, m = f.options, f.meta["pyramid"]
  real_full = img.uint8_to_image(f.raw("input/image_uint8"))
  np.testing.assert_array_equal(real_full, f.nhwc("input/real_full"))
  h, w = real_full.shape[1:3]
  plan = pyr.plan_pyramid(h, w, o["min_size"], o["max_size"], o["scale_factor_init"])
  assert plan.num_scales == m["num_scales"] and plan.stop_scale == m["stop_scale"]
  assert plan.scale1 == m["scale1"]
  assert plan.scale_factor == pytest.approx(m["scale_factor"], rel=1e-15)
  assert [list(s) for s in plan.shapes] == [r[2:] for r in m["reals_shapes"]]
  real, reals = pyr.build_reals(real_full, plan)
  np.testing.assert_allclose(real, f.nhwc("pyramid/real_scale1"), atol=1e-6, rtol=0)
  for n, r in enumerate(reals):
    np.testing.assert_allclose(r, f.nhwc(f"pyramid/reals/{n}"), atol=1e-6, rtol=0, err_msg=str(n))
  # Per-scale widths and which scales continue from the previous one.
  for n in range(plan.stop_scale + 1):
    t = f.meta["training"][f"train/s{n}"]
    assert pyr.widths(n, o["nfc_init"], o["min_nfc_init"]) == (t["nfc"], t["min_nfc"])
    assert pyr.continues_from_previous(n, o["nfc_init"], o["min_nfc_init"]) == t["init"].startswith("copied")


def test_imresize_rules():
  # Scale 1 is the bare uint8 round trip: 63 of the 256 levels come back one lower.
  levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, -1)
  x = img.uint8_to_image(levels[0])
  once = imr.to_uint8_np(x)
  assert int((once.astype(int) != levels).sum() // 3) == 63
  assert (levels.astype(int) - once).min() == 0 and (levels.astype(int) - once).max() == 1
  # imresize at scale 1 truncates its input once more.
  np.testing.assert_array_equal(imr.to_uint8_np(imr.imresize_np(x, 1.0)), imr.to_uint8_np(img.uint8_to_image(once[0])))
  # Output sizes by ceil; constant images stay constant (weights sum to 1) in every path.
  assert imr.resized_shape((48, 64), 0.785629301801026) == (38, 51)
  c = np.full((1, 9, 13, 3), 0.2, np.float32)
  for kw in ({"scale": 0.6}, {"scale": 1.7}, {"output_shape": (20, 5)}):
    assert np.ptp(imr.imresize_np(c, **kw)) == 0
  # Asymmetric borders: top rows drop outside taps (renormalised), bottom rows mirror.
  m = imr.resize_matrix(10, 5, 0.5, True)
  assert np.allclose(m.sum(1), 1) and m.shape == (5, 10)
  assert not np.allclose(m[0], m[-1][::-1])
  with pytest.raises(ValueError, match="exactly one"):
    imr.imresize_np(c)


def test_widths_and_plan():
  assert pyr.widths(0) == (32, 32) and pyr.widths(4) == (64, 64) and pyr.widths(12, 32, 32) == (128, 128)
  assert pyr.net_widths(16, 8) == [(16, 8), (8, 8), (8, 8)]
  assert pyr.net_widths(32, 32) == [(32, 32)] * 3
  plan = pyr.plan_pyramid(250, 300)
  assert plan.scale1 == min(250 / 300, 1) and plan.shapes[-1] == (209, 250)
  assert min(plan.shapes[0]) == 25
  assert math.isclose(plan.scale_factor ** plan.stop_scale, 25 / 209)
  with pytest.raises(ValueError, match="min_size=25"):
    pyr.plan_pyramid(20, 40)


def test_read_image_errors(tmp_path):
  rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
  Image.fromarray(rgb).save(tmp_path / "ok.png")
  x = img.read_image(tmp_path / "ok.png")
  assert x.shape == (1, 30, 40, 3) and x.dtype == np.float32
  np.testing.assert_array_equal(img.read_uint8(tmp_path / "ok.png"), rgb)
  Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
  Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(tmp_path / "alpha.png")
  (tmp_path / "junk.png").write_bytes(b"not an image")
  with pytest.raises(ValueError, match="grey.png: greyscale"):
    img.read_image(tmp_path / "grey.png")
  with pytest.raises(ValueError, match="alpha.png: has an alpha channel"):
    img.read_image(tmp_path / "alpha.png")
  with pytest.raises(ValueError, match="junk.png: cannot be read"):
    img.read_image(tmp_path / "junk.png")
  with pytest.raises(FileNotFoundError, match="missing.png: no such file"):
    img.read_image(tmp_path / "missing.png")
