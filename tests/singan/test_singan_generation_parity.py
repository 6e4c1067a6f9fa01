"""SinGAN generation and manipulation parity on every fixture: random samples, the start scale,
arbitrary output sizes, paint2image, harmonization, editing and super-resolution.

Each generator call runs alone (stored final G_k, eval mode, stored z_in and I_prev) within 1e-5.
The whole call chains through our `generate` with the recorded draws; between scales it crosses
imresize's truncating uint8 step, so a record matches within 1e-5 or carries a uint8-flip patch (one
level, 2/255, where a coarser output lies within float32 noise of a level boundary, spread by the
finer nets; measured at most 77 elements and 0.0068 on `singan_small`): bounded by 3/255, at most
10 % of the elements. The injected images, references, dilated masks and blends are numpy-exact paths
(1e-6).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import singan_fixtures as fx
import singan_replay as rp
from spade_jax.models.singan import generate as gen
from spade_jax.models.singan import image as img
from spade_jax.models.singan import manipulate as M
from spade_jax.models.singan import pyramid as pyr

FLIP_MAX = 3 / 255


def close_or_flip(ours, ref, what):
  d = np.abs(np.asarray(ours) - np.asarray(ref))
  assert d.shape == np.shape(ref), what
  assert d.max() <= FLIP_MAX, f"{what}: {d.max()}"
  assert (d > 1e-5).mean() <= 0.10, f"{what}: {int((d > 1e-5).sum())} of {d.size} off by > 1e-5"


@functools.lru_cache(maxsize=None)
def _pyr(name):
  lay = rp.layout(name)
  return lay, rp.pyramid_vars(name, lay.num_scales)


@functools.lru_cache(maxsize=None)
def _g_alone(name, k):
  g, _ = rp.nets(name, k)
  return jax.jit(lambda G, z, p: g.apply(G, z, p, train=False))


def phase_noises(f, phase, shapes):
  """The phase's recorded draws grouped per scale, samples stacked (scale-major, as recorded)."""
  d = [rp.nhwc(x) for x in f.draws(phase)]
  out, i = [], 0
  for s in shapes:
    out.append(jnp.asarray(np.concatenate(d[i:i + s[0]], 0)))
    i += s[0]
  assert i == len(d), f"{phase}: {len(d)} draws, expected {i}"
  for o, s in zip(out, shapes):
    assert o.shape == tuple(s), (phase, o.shape, s)
  return out


def check_calls_alone(f, name, prefix, scales, samples, Gs_all, key=lambda k, i: f"scale{k}/sample{i}"):
  for k in scales:
    for i in range(samples):
      p = f"{prefix}/{key(k, i)}"
      out = _g_alone(name, min(k, len(Gs_all) - 1))(Gs_all[min(k, len(Gs_all) - 1)],
                                                     jnp.asarray(f.nhwc(f"{p}/z_in")), jnp.asarray(f.nhwc(f"{p}/I_prev")))
      np.testing.assert_allclose(out, f.nhwc(f"{p}/out"), atol=1e-5, err_msg=p)


def check_trace(f, prefix, trace, scales, samples):
  for (z_in, i_prev, out), k in zip(trace, scales):
    for i in range(samples):
      p = f"{prefix}/scale{k}/sample{i}"
      close_or_flip(z_in[i:i + 1], f.nhwc(f"{p}/z_in"), p + "/z_in")
      close_or_flip(i_prev[i:i + 1], f.nhwc(f"{p}/I_prev"), p + "/I_prev")
      close_or_flip(out[i:i + 1], f.nhwc(f"{p}/out"), p + "/out")


@fx.params()
@pytest.mark.parametrize("phase", ["gen/random", "gen/start_scale", "gen/arbitrary"])
def test_random_samples(fixture_name, phase):
  f = fx.load(fixture_name)
  if phase not in f.meta:
    pytest.skip(f"{fixture_name} has no {phase}")
  lay, (Gs, Zs, amps, _) = _pyr(fixture_name)
  m = f.meta[phase]
  S = m["num_samples"]
  check_calls_alone(f, fixture_name, phase, m["scales"], S, Gs)
  shapes = gen.noise_shapes(lay, 0, S, m["scale_v"], m["scale_h"])
  noises = phase_noises(f, phase, shapes)
  if f"{phase}/in_s" in f.keys:  # generate_in2coarsest: zeros of the (scaled) coarsest size
    in_s = f.nhwc(f"{phase}/in_s")
    assert in_s.shape[1:3] == shapes[0][1:3] and not in_s.any()
  out, trace = gen.generate(lay, Gs, Zs, amps, noises, scale_v=m["scale_v"], scale_h=m["scale_h"],
                            gen_start_scale=m["gen_start_scale"], trace=True)
  check_trace(f, phase, trace, m["scales"], S)
  close_or_flip(out[-1:], f.nhwc(f"{phase}/out"), f"{phase}/out")


@fx.params()
@pytest.mark.parametrize("phase,radius", [("paint2image", None), ("harmonization", 7), ("editing", 20)])
def test_injection(fixture_name, phase, radius):
  f = fx.load(fixture_name)
  if phase not in f.meta:
    pytest.skip(f"{fixture_name} has no {phase}")
  lay, (Gs, Zs, amps, reals) = _pyr(fixture_name)
  m = f.meta[phase]
  n = m["n"]
  o = f.options
  real_full = img.uint8_to_image(f.raw("input/image_uint8"))
  plan = pyr.plan_pyramid(*real_full.shape[1:3], o["min_size"], o["max_size"], o["scale_factor_init"])
  real, _ = pyr.build_reals(real_full, plan)
  src = {"paint2image": "input/paint_uint8", "harmonization": "input/harmonization_ref_uint8",
         "editing": "input/editing_ref_uint8"}[phase]
  ref = M.match_reference(img.uint8_to_image(f.raw(src)), real)
  np.testing.assert_allclose(ref, f.nhwc(f"{phase}/ref"), atol=1e-6)
  in_s = M.inject(lay, ref, n)
  np.testing.assert_allclose(in_s, f.nhwc(f"{phase}/in_s"), atol=1e-6)
  check_calls_alone(f, fixture_name, phase, m["scales"], 1, Gs)
  shapes = gen.noise_shapes(lay, n, 1)
  noises = phase_noises(f, phase, shapes)
  out, trace = gen.generate(lay, Gs[n:], Zs[n:], amps[n:], noises, in_s=jnp.asarray(in_s), n=n, trace=True)
  check_trace(f, phase, trace, m["scales"], 1)
  close_or_flip(out, f.nhwc(f"{phase}/out"), f"{phase}/out")
  if radius is not None:
    np.testing.assert_allclose(real, f.nhwc(f"{phase}/real"), atol=1e-6)
    mask_src = phase + "_mask_uint8" if phase != "harmonization" else "harmonization_mask_uint8"
    mask = M.match_reference(img.uint8_to_image(f.raw(f"input/{mask_src}")), real)
    dil = M.dilate_mask(mask, radius)
    np.testing.assert_allclose(dil, f.nhwc(f"{phase}/mask_dilated"), atol=1e-6)
    blended = M.blend(real, f.nhwc(f"{phase}/out"), dil)
    np.testing.assert_allclose(blended, f.nhwc(f"{phase}/out_masked"), atol=1e-6)


@fx.params()
def test_super_resolution(fixture_name):
  f = fx.load(fixture_name)
  if "SR/out" not in f.keys:
    pytest.skip(f"{fixture_name} has no SR")
  lay, (Gs, Zs, amps, reals) = _pyr(fixture_name)
  m = f.meta["manipulation"]["SR"]
  factor = float(m["argv"][m["argv"].index("--sr_factor") + 1])
  in_scale, iters = M.sr_plan(factor)
  assert (in_scale, iters) == (pytest.approx(m["in_scale"], rel=1e-15), m["iter_num"])
  rs = M.sr_reals(np.asarray(reals[-1]), in_scale, iters)
  for k, r in enumerate(rs):
    np.testing.assert_allclose(r, f.nhwc(f"SR/reals_sr/{k}"), atol=1e-6)
  for k in range(iters):
    p = f"SR/iter{k}"
    out = _g_alone(fixture_name, lay.num_scales - 1)(Gs[-1], jnp.asarray(f.nhwc(f"{p}/z_in")),
                                                     jnp.asarray(f.nhwc(f"{p}/I_prev")))
    np.testing.assert_allclose(out, f.nhwc(f"{p}/out"), atol=1e-5, err_msg=p)
  shapes = [r.shape[1:3] for r in rs]
  nshapes = gen.noise_shapes(lay, 0, 1, shapes=shapes)
  noises = phase_noises(f, "SR", nshapes)
  zs = [jnp.zeros((1, h + 10, w + 10, 3)) for h, w in shapes]
  out, trace = gen.generate(lay, [Gs[-1]] * iters, zs, [amps[-1]] * iters, noises, in_s=jnp.asarray(rs[0]),
                            sr=True, shapes=shapes, widths=[lay.widths[-1]] * iters, scale_factor=1 / in_scale,
                            trace=True)
  for k, (z_in, i_prev, o) in enumerate(trace):
    close_or_flip(z_in, f.nhwc(f"SR/iter{k}/z_in"), f"SR/iter{k}/z_in")
    close_or_flip(o, f.nhwc(f"SR/iter{k}/out"), f"SR/iter{k}/out")
  close_or_flip(out, f.nhwc("SR/generate_out"), "SR/generate_out")
  h, w = reals[-1].shape[1:3]
  np.testing.assert_array_equal(f.nhwc("SR/out"), f.nhwc("SR/generate_out")[:, :int(factor * h), :int(factor * w)])


@fx.params()
def test_paint_quantization(fixture_name):
  """Our k-means (scikit-learn's k-means++ seeding with RandomState(0), Lloyd) on the official value
  triples reproduces the fixture's scikit-learn clusters."""
  from spade_jax.models.singan import quantize as Q
  f = fx.load(fixture_name)
  if "paint2image/quant/centers" not in f.keys:
    pytest.skip(f"{fixture_name} has no paint2image/quant")
  lay, _ = _pyr(fixture_name)
  r = Q.quantized_injection(lay, f.nhwc("pyramid/real_scale1"), f.nhwc("paint2image/ref"), f.meta["paint2image"]["n"])
  for k in ("real_s", "real_quant", "centers", "ref_quant", "in_s"):
    np.testing.assert_allclose(r[k], rp.nhwc(f.raw(f"paint2image/quant/{k}")), atol=1e-6, err_msg=k)
