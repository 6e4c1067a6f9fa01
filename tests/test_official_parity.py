"""Numerical parity with the official PyTorch SPADE, on every fixture in $SPADE_PARITY_DIR.

Each `<name>.json` + `<name>.npz` pair is classified by its keys (no fixture name is hard-coded):
  * full-model fixtures (`G/...` keys): models built from the recorded official options through
    `spade_jax.official`; G eval forward; and, when recorded, the whole training iteration (G step then
    D step, TTUR Adam, replaying the recorded random draws): losses, images, D outputs, every buffer
    after the G step, every parameter and buffer after the iteration;
  * layer fixtures (`<variant>/params/...`): each SPADE variant and the SPADE ResBlock, train and eval.
`.npz` files without a `.json` (e.g. the FID Inception reference) belong to other tests.

Tolerances (issue #3): max-abs ≤ 1e-4 on activations and images; ≤ 1e-5 relative on losses, updated
parameters and buffers (plus 1e-6 absolute for values near zero). One looser bound, with its reason:
see `_check_updated_params`.
"""

from __future__ import annotations

import functools
import json

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util
from model_utils import parity_dir, parity_params

from spade_jax.nn.blocks import SPADEResBlock
from spade_jax.nn.modulation import SPADE, parse_spade_norm
from spade_jax.models.spade.official.convert import state_dict_to_variables
from spade_jax.models.spade.official.options import config_from_options
from spade_jax.models.spade.model import SPADEModel
from spade_jax.gan.vgg import VGG19Features, vgg19_params_from_torch
from spade_jax.models.spade import step as train_step

REPO = pathlib.Path(__file__).resolve().parents[1]
PARITY_DIR = parity_dir()
ACT_TOL = 1e-4
REL_TOL = 1e-5
ABS_FLOOR = 1e-6


def _load(stem: pathlib.Path):
  meta = json.loads(stem.with_suffix(".json").read_text())
  with np.load(stem.with_suffix(".npz")) as f:
    arrays = {k: (f[k].astype(np.float32) if f[k].dtype == np.float16 else f[k]) for k in f.files}
  return meta, arrays


def _group(arrays: dict, prefix: str) -> dict:
  return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _nhwc(a):
  return np.asarray(a).transpose(0, 2, 3, 1)


def _nchw(a):
  return np.asarray(a).transpose(0, 3, 1, 2)


def _close_act(ours, ref, what, tol=ACT_TOL):
  ours, ref = np.asarray(ours, np.float32), np.asarray(ref, np.float32)
  assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
  err = float(np.max(np.abs(ours - ref))) if ref.size else 0.0
  assert err <= tol, f"{what}: max abs diff {err:.3g} > {tol}"
  return err


def _close_rel(ours, ref, what, rel=REL_TOL, floor=ABS_FLOOR):
  ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
  assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
  bad = np.abs(ours - ref) > floor + rel * np.abs(ref)
  assert not bad.any(), (f"{what}: {int(bad.sum())}/{bad.size} elements off, max abs diff "
                         f"{float(np.max(np.abs(ours - ref))):.3g} (ours {ours.ravel()[:3]}, ref {ref.ravel()[:3]})")


def _compare_tree(ours: dict, ref: dict, what: str, check=_close_rel):
  fo, fr = traverse_util.flatten_dict(ours), traverse_util.flatten_dict(ref)
  assert set(fo) == set(fr), f"{what}: variable sets differ: {set(fo) ^ set(fr)}"
  for k in fr:
    check(fo[k], fr[k], f"{what}/{'/'.join(k)}")


# --------------------------------------------------------------------------------------------------
# layer fixtures
# --------------------------------------------------------------------------------------------------

def _run_layer_module(module, variables, x, seg):
  out_train, upd = module.apply(variables, x, {"segmap": seg}, True, mutable=["batch_stats"])
  after = {**variables, **upd} if upd else variables
  out_eval = module.apply(after, x, {"segmap": seg}, False)
  return out_train, after, out_eval


def _check_layer_fixture(meta, arrays):
  x = jnp.asarray(_nhwc(arrays["input/x"]))
  seg = jnp.asarray(_nhwc(arrays["input/segmap"]))
  nhidden = int(meta.get("nhidden", 128))
  groups = sorted({k.split("/")[0] for k in arrays if re.match(r"^[^/]+/params/", k)})
  assert groups, "layer fixture without any <variant>/params group"
  for g in groups:
    params = _group(arrays, f"{g}/params/")
    if g.startswith("spade"):
      _, kind, ks = parse_spade_norm(g)
      module = SPADE(param_free=kind, kernel_size=ks, nhidden=nhidden)
    elif g == "resblock":
      spec = meta.get("resblock", "")
      norm_g = re.search(r'norm_G="([^"]+)"', spec).group(1)
      fout = int(re.search(r"fout=(\d+)", spec).group(1))
      spectral, kind, ks = parse_spade_norm(norm_g)
      mod = functools.partial(SPADE, param_free=kind, kernel_size=ks, nhidden=nhidden)
      module = SPADEResBlock(fout, mod, spectral=spectral)
    else:
      raise AssertionError(f"unrecognised layer-fixture group {g!r}")
    template = jax.eval_shape(lambda: module.init(jax.random.key(0), x, {"segmap": seg}, True))
    variables = state_dict_to_variables(params, template, net=g)
    out_train, after, out_eval = _run_layer_module(module, variables, x, seg)
    _close_act(_nchw(out_train), arrays[f"{g}/out_train"], f"{g}/out_train")
    _compare_tree(after, state_dict_to_variables(_group(arrays, f"{g}/after/"), template, net=g), f"{g}/after")
    _close_act(_nchw(out_eval), arrays[f"{g}/out_eval"], f"{g}/out_eval")


# --------------------------------------------------------------------------------------------------
# full-model fixtures
# --------------------------------------------------------------------------------------------------

def _draws(arrays, phase):
  keys = [k for k in arrays if re.match(rf"^{re.escape(phase)}/draw\d+_", k)]
  keys.sort(key=lambda k: int(re.search(r"/draw(\d+)_", k).group(1)))
  return [jnp.asarray(arrays[k]) for k in keys]


def _model_variables(model, arrays, template, prefix):
  out = {}
  for net in ("G", "D", "E"):
    sd = _group(arrays, f"{net}{prefix}/")
    if net in template:
      assert sd, f"fixture has no {net}{prefix}/ state dict but the model has {net}"
      out[net] = state_dict_to_variables(sd, template[net], net=net)
    else:
      assert not sd, f"fixture has {net}{prefix}/ but the configured model has no {net}"
  return out


def _buffers(tree):
  return {k: v for k, v in tree.items() if k == "batch_stats"}


def _check_d_outputs(ours_fake_real, arrays, prefix, tol):
  pred_fake, pred_real = ours_fake_real
  n_scales = len({k.split("/")[0] for k in _group(arrays, f"{prefix.split(' ')[0]}/") if k.startswith("scale")})
  assert n_scales == len(pred_fake), f"{prefix}: {n_scales} scales in fixture, {len(pred_fake)} ours"
  for i, (f_scale, r_scale) in enumerate(zip(pred_fake, pred_real)):
    last = len(f_scale) - 1
    logits = np.concatenate([_nchw(f_scale[last]), _nchw(r_scale[last])], 0)
    key = f"{prefix.split(' ')[0]}/scale{i}/layer{last}"
    _close_act(logits, arrays[key], f"{prefix}/scale{i}/layer{last}", tol)
    for j in range(last):
      key = f"{prefix.split(' ')[0]}/scale{i}/layer{j}_row0"
      if key in arrays:
        _close_act(_nchw(f_scale[j][:1]), arrays[key], f"{prefix}/scale{i}/layer{j}_row0", tol)


NOISE_GRAD = 1e-6


def _check_updated_params(ours, ref, init, grads, lr, what):
  """Updated parameters: strict (1e-5 relative) except where our gradient is at float32 noise level.

  Reason for the looser bound (measured on spade_small): Adam's first step with beta1 = 0 moves a weight
  by lr·g/(|g| + 1e-8), i.e. by ≈ ±lr whatever |g| is. Many G biases have a gradient that is
  mathematically zero (each feeds a batch norm, which removes per-channel constants; measured
  |g| ≤ 7e-7 for `fc/bias`, ≤ 1e-8 for block biases, against a median |g| of 6e-2 for the kernels), so
  the sign of their float32 noise and hence their ±lr move is not reproducible across frameworks.
  Elements with our |g| < 1e-6 are therefore compared with 2·lr."""
  fo, fr, fi, fg = (traverse_util.flatten_dict(t) for t in (ours, ref, init, grads))
  assert set(fo) == set(fr), f"{what}: variable sets differ: {set(fo) ^ set(fr)}"
  loose = 0
  for k in fr:
    o, r = np.asarray(fo[k], np.float64), np.asarray(fr[k], np.float64)
    name = f"{what}/{'/'.join(k)}"
    if k[0] != "params":
      _close_rel(o, r, name)
      continue
    noise = np.abs(np.asarray(fg[k[1:]])) < NOISE_GRAD
    strict = np.abs(o - r) <= ABS_FLOOR + REL_TOL * np.abs(r)
    bad = ~strict & (~noise | (np.abs(o - r) > 2 * lr + ABS_FLOOR))
    assert not bad.any(), (f"{name}: {int(bad.sum())}/{bad.size} elements off; max abs diff "
                           f"{float(np.max(np.abs(o - r))):.3g} (lr {lr})")
    loose += int((~strict).sum())
  return loose


def _check_model_fixture(meta, arrays):
  config = config_from_options(meta["options"])
  config.data.crop_size = int(meta["options"]["crop_size"])
  model = SPADEModel(config)
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  variables = _model_variables(model, arrays, template, "")

  label = jnp.asarray(arrays["input/label_map"][:, 0].astype(np.int32))
  label = jnp.where(label == 255, config.data.label_nc, label)
  batch = {"label": label, "image": jnp.asarray(_nhwc(arrays["input/image"]))}
  if "input/instance_map" in arrays:
    batch["instance"] = jnp.asarray(arrays["input/instance_map"][:, 0].astype(np.int32))
  seg = model.semantics(batch)
  np.testing.assert_array_equal(_nchw(seg), arrays["input/semantics"], err_msg="input semantics")

  # Generator eval forward (test.py: with a VAE, z comes from the paired image with the recorded draw).
  eval_draws = _draws(arrays, "eval")
  fake, _, _ = model.generate(variables, seg, image=batch["image"], eps=(eval_draws or [None])[0],
                              train=False)
  _close_act(_nchw(fake), arrays["eval/fake_image"], "eval/fake_image")

  if "train/G_losses/GAN" not in arrays:
    return
  state = train_step.new_state(config, variables, jax.random.key(0))
  vgg_fn = None
  if not config.train.no_vgg_loss:  # VGG19 weights must travel with such a fixture (any key prefix)
    prefixes = [k[:-len("features.0.weight")] for k in arrays if k.endswith("features.0.weight")]
    if not prefixes:
      pytest.fail("fixture uses the VGG loss but holds no VGG19 weights (<prefix>features.<i>.weight)")
    vgg_vars = vgg19_params_from_torch(_group(arrays, prefixes[0]))
    vgg_fn = lambda x: VGG19Features().apply(vgg_vars, x)  # noqa: E731
  g_draws, d_draws = _draws(arrays, "train/G_step"), _draws(arrays, "train/D_step")
  g_fn = jax.jit(functools.partial(train_step.g_step, model, vgg_fn=vgg_fn))
  d_fn = jax.jit(functools.partial(train_step.d_step, model))

  state, g_metrics, g_aux = g_fn(state, batch, eps=(g_draws or [None])[0])
  _check_d_outputs(g_aux["d_outputs"], arrays, "train/G_step/netD_call0", ACT_TOL)
  _close_act(_nchw(g_aux["fake"]), arrays["train/generated"], "train/generated")
  for net in ("G", "D", "E"):
    ref = _group(arrays, f"{net}_after_Gstep/")
    if ref:
      ref_vars = state_dict_to_variables(ref)
      _compare_tree(_buffers(state.variables[net]), _buffers(ref_vars), f"{net}_after_Gstep")
  g_lr, d_lr = train_step.learning_rates(config)
  after = _model_variables(model, arrays, template, "_after")
  loose = 0
  for net in [n for n in ("G", "E") if n in after]:  # G/E params are final after the G step
    loose += _check_updated_params({"params": state.variables[net]["params"]}, {"params": after[net]["params"]},
                                   {"params": variables[net]["params"]}, g_aux["grads"][net], g_lr, f"{net}_after")

  # (a) The D step replayed from the official post-G-step weights: strict.
  official_g = {n: {**state.variables[n], "params": after[n]["params"]} for n in ("G", "E") if n in after}
  replay = state.replace(variables={**state.variables, **official_g})
  replay, d_metrics, d_aux = d_fn(replay, batch, eps=(d_draws or [None])[0])
  _close_act(_nchw(d_aux["fake"]), arrays["train/D_step/netG_call0/fake_image"], "D_step fake_image")
  _check_d_outputs(d_aux["d_outputs"], arrays, "train/D_step/netD_call0", ACT_TOL)
  metrics = {**g_metrics, **d_metrics}
  for key in [k for k in arrays if k.startswith(("train/G_losses/", "train/D_losses/"))]:
    name = key.rsplit("/", 1)[1]
    assert name in metrics, f"loss term {name} recorded by the official code is missing from ours"
    _close_rel(metrics[name], float(arrays[key].reshape(())), f"loss {name}", floor=1e-7)
  for net in after:
    if net == "D":
      loose += _check_updated_params(replay.variables[net], after[net], variables[net],
                                     d_aux["grads"], d_lr, f"{net}_after")
    else:  # buffers after both G forwards
      _compare_tree(_buffers(replay.variables[net]), _buffers(after[net]), f"{net}_after")
  n_params = sum(np.size(x) for net in after for x in jax.tree_util.tree_leaves(after[net]["params"]))
  assert loose <= 0.01 * n_params, f"{loose}/{n_params} updated parameters only within the noise bound"

  # (b) Our own chain (G step → D step), a sanity bound: the D step sees our G update, whose noise-level
  # elements (see _check_updated_params) move the regenerated fake by up to 6.2e-5 and D's
  # instance-normalised features by up to 1.6e-4 (measured on spade_small); bound 5e-3.
  chained, _, c_aux = d_fn(state, batch, eps=(d_draws or [None])[0])
  _close_act(_nchw(c_aux["fake"]), arrays["train/D_step/netG_call0/fake_image"], "chained D_step fake", 5e-3)
  _check_d_outputs(c_aux["d_outputs"], arrays, "train/D_step/netD_call0 (chained)", 5e-3)
  del chained


@parity_params()
def test_official_fixture(stem):
  meta, arrays = _load(stem)
  if any(k.startswith("G/") for k in arrays):
    _check_model_fixture(meta, arrays)
  elif any(re.match(r"^[^/]+/params/", k) for k in arrays):
    _check_layer_fixture(meta, arrays)
  else:
    pytest.fail(f"{stem.name}: unrecognised fixture layout (neither G/ state dicts nor <layer>/params/)")

