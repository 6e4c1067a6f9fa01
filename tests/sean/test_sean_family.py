"""The SEAN family beyond parity: sizes at the official setting, the strict converter, the region-style API
(codes, generation from codes, mixing with both fallbacks, mean codes and their files), the mean-codes
command on a work directory, and one-line errors for bad inputs."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from model_utils import find_fixture, load_config, random_variables
from spade_jax import models
from spade_jax.models.sean import mean_codes as mean_codes_cmd
from spade_jax.models.sean import official, styles
from spade_jax.models.sean.model import SEANModel



def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def test_parameter_counts_at_the_official_setting():
  """ngf = ndf = 64, label_nc 19, no instance maps, crop 256, 512-wide codes, 19 style Linears per styled
  layer: netG 266,907,367 and netD 1,364,098 parameters, as the official modules count them (266.9 M /
  1.36 M; the shares: 15 styled layers × 19 × 262,656 in the style Linears, 97.9 M in conv_gamma/beta,
  25.6 M in the SPADE branches, 1.57 M in the Zencoder)."""
  model = SEANModel(load_config("sean/default"))
  v = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  g = v["G"]["params"]
  assert _count(g) == 266_907_367
  assert _count(v["D"]["params"]) == 1_364_098
  flat = traverse_util.flatten_dict(g)
  share = lambda word: sum(int(np.prod(x.shape)) for k, x in flat.items() if word in k)  # noqa: E731
  assert share("fc_mu_kernel") + share("fc_mu_bias") == 15 * 19 * 262_656
  assert share("conv_gamma") + share("conv_beta") == 97_932_032
  assert share("Spade") == 25_633_152
  assert _count(g["Zencoder"]) == 1_568_576
  assert "fc_mu_kernel" not in g["up_3"]["norm_0"] and "blending_gamma" in g["up_3"]["norm_0"]


# ------------------------------------------------------------------------------------------------
# the converter
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def official_state():
  stem = find_fixture(["G/fc.weight", "G/Zencoder.model.10.weight"], "sean")
  with np.load(stem.with_suffix(".npz")) as f:
    state = {k[2:]: f[k].astype(np.float32) if f[k].dtype == np.float16 else f[k] for k in f.files
             if k.startswith("G/")}
  meta = json.loads(stem.with_suffix(".json").read_text())
  options = dict(meta.get("options") or meta["meta"]["options"], nhidden=meta["nhidden"],
                 style_length=meta["style_length"])
  model = SEANModel(official.config_from_options(options))
  return state, jax.eval_shape(lambda: model.init(jax.random.key(0)))["G"]


def test_converter_maps_every_official_name(official_state):
  state, template = official_state
  v = official.state_dict_to_variables(state, template, "G")
  k = next(x for x in state if x.endswith("up_1.ace_0.fc_mu3.weight"))
  np.testing.assert_array_equal(v["params"]["up_1"]["norm_0"]["fc_mu_kernel"][3], state[k].T)
  w = state["Zencoder.model.10.weight"]  # ConvTranspose2d [in, out, kh, kw]
  np.testing.assert_array_equal(v["params"]["Zencoder"]["model_10"]["kernel"][0, 2], w[:, :, 2, 0])
  assert set(v["batch_stats"]["up_0"]["norm_s"]["param_free_norm"]) == {"mean", "var"}
  assert any(".Spade.param_free_norm." in x for x in state)  # present in the file, not modelled


def test_converter_lists_every_problem_at_once(official_state):
  state, template = official_state
  bad = dict(state)
  del bad["head_0.conv_0.weight_u"]
  del bad["up_2.ace_1.fc_mu4.bias"]
  bad["up_0.ace_0.extra.weight"] = np.zeros((2, 2, 3, 3), np.float32)
  bad["fc.weight"] = bad["fc.weight"][:, :-1]
  with pytest.raises(ValueError) as e:
    official.state_dict_to_variables(bad, template, "G")
  msg = str(e.value)
  assert "\n" not in msg and "official SEAN netG state dict" in msg
  for part in ("missing batch_stats/head_0/conv_0/u", "fc_mu indices [4] missing", "'up_0.ace_0.extra.weight'",
               "fc.weight: shape"):
    assert part in msg, part


def test_options_convert_and_unsupported_ones_are_refused():
  c = official.config_from_options({"label_nc": 19, "no_instance": True, "ngf": 32, "no_TTUR": True,
                                    "dataset_mode": "custom", "label_dir": "/d/labels", "image_dir": "/d/images"})
  assert (c.data.label_nc, c.model.ngf, c.train.no_TTUR, c.data.name, c.data.label_dir) == (
      19, 32, True, "folder", "/d/labels")
  from spade_jax.models.sean import step
  assert step.adam_betas(c) == (0.5, 0.999) and step.adam_betas(load_config("sean/default")) == (0.0, 0.9)
  with pytest.raises(ValueError, match="num_upsampling_layers='most' does not run"):
    official.config_from_options({"num_upsampling_layers": "most"})
  with pytest.raises(ValueError, match="netG='pix2pixhd' is not supported"):
    official.config_from_options({"netG": "pix2pixhd"})


# ------------------------------------------------------------------------------------------------
# region-style API (host; a tiny model with random weights)
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
  config = load_config("sean/tiny")
  family = models.build(config)
  variables = random_variables(family.model, seed=1, scale=0.2)
  h, w = family.image_hw
  rng = np.random.default_rng(0)
  label = np.zeros((2, h, w), np.int32)
  label[:, : h // 2] = 0          # "sky" on top
  label[:, h // 2:] = 7           # "grass" below
  label[1, h // 2:, : w // 2] = 5  # water in the second map only
  image = rng.uniform(-1, 1, (2, h, w, 3)).astype(np.float32)
  return family, variables, label, image


def test_encode_styles_codes_and_presence(tiny):
  family, variables, label, image = tiny
  codes, presence = family.encode_styles(variables, image, label)
  k, s = family.num_channels, family.model.style_length
  assert codes.shape == (2, k, s) and presence.shape == (2, k)
  want = np.zeros((2, k), bool)
  want[:, [0, 7, k - 1]] = True  # classes present, and the instance-edge channel (class boundaries)
  want[1, 5] = True
  np.testing.assert_array_equal(presence, want)
  assert not codes[~presence].any() and np.abs(codes[presence]).sum(-1).min() > 0


def test_generate_from_codes_equals_generate_from_the_photo(tiny):
  family, variables, label, image = tiny
  from spade_jax.evaluate.synthesize import generate
  codes, _ = family.encode_styles(variables, image, label)
  key = jax.random.key(3)
  a = np.asarray(generate(family, variables, {"label": label, "instance": label, "style_image": image}, rng=key))
  b = np.asarray(generate(family, variables, {"label": label, "instance": label, "styles": codes}, rng=key))
  np.testing.assert_allclose(a, b, atol=1e-5)
  c = np.asarray(generate(family, variables, {"label": label, "instance": label, "styles": codes[:1]}, rng=key))
  np.testing.assert_allclose(c[0], b[0], atol=1e-5)  # one row of codes serves every label map
  d = np.asarray(generate(family, variables, {"label": label, "instance": label, "styles": codes}, rng=None))
  e = np.asarray(generate(family, variables, {"label": label, "instance": label, "styles": codes}, rng=None))
  np.testing.assert_array_equal(d, e)  # without rng: the fixed seed (as the official UI), repeatable
  assert np.abs(d - b).max() > 0  # ... and the noise does matter (tiny random weights: noise_var ≠ 0)


def test_cross_inputs_encode_the_style_photo_under_its_own_label_map(tiny):
  """The style metric's cross test: label map A with photo B's codes read under B's label map (the
  whole-photo rule without mean codes: a class B lacks gets a zero code), not A's regions of B."""
  family, variables, label, image = tiny
  a = {"label": label[:1], "instance": label[:1], "style_image": image[:1]}  # no water
  b = {"label": label[1:], "instance": label[1:], "style_image": image[1:]}  # water on the left
  out = jax.jit(family.cross_inputs)(variables, b, a)  # label map B (water), photo A's style
  assert set(out) == {"label", "instance", "styles"}
  np.testing.assert_array_equal(out["label"], label[1:])
  codes_a, has_a = family.encode_styles(variables, image[:1], label[:1])
  np.testing.assert_allclose(out["styles"], codes_a, atol=1e-6)
  assert not has_a[0, 5] and not np.asarray(out["styles"])[0, 5].any()  # B's water: zero code
  under_b, _ = family.encode_styles(variables, image[:1], label[1:])  # the old swap: A's photo, B's regions
  assert np.abs(np.asarray(out["styles"]) - under_b).max() > 1e-4


def test_compose_styles_fallback_order(tiny):
  """A whole-photo style: the photo's code → the mean code → the target's own; per-class: mix_styles."""
  family, variables, label, image = tiny
  k, s = family.num_channels, family.model.style_length
  photo_label = label.copy()
  photo_label[:] = 0  # the style photo has only class 0 (+ no boundaries)
  src, src_has = family.encode_styles(variables, image[:1], photo_label[:1])
  tgt, tgt_has = family.encode_styles(variables, image, label)
  mean = styles.MeanCodes(np.full((k, s), 9.0, np.float32), np.eye(k, dtype=np.int64)[7])  # a mean for class 7 only
  codes = family.compose_styles(variables, label, label, style_image=image[:1], style_labels=photo_label[:1],
                                target_image=image, mean=mean)
  np.testing.assert_allclose(codes[:, 0], np.broadcast_to(src[0, 0], (2, s)), atol=1e-6)  # the photo has it
  np.testing.assert_array_equal(codes[:, 7], 9.0)                                         # the mean
  np.testing.assert_allclose(codes[1, 5], tgt[1, 5], atol=1e-6)                            # the target's own
  per_class = family.compose_styles(variables, label, label, style_image=image[:1], style_labels=photo_label[:1],
                                    classes=[0], target_image=image)
  np.testing.assert_allclose(per_class[:, 0], np.broadcast_to(src[0, 0], (2, s)), atol=1e-6)
  np.testing.assert_allclose(per_class[:, 7], tgt[:, 7], atol=1e-6)
  with pytest.raises(ValueError, match="style classes need the target's own photo"):
    family.compose_styles(variables, label, label, style_image=image[:1], classes=[0])


def test_mix_styles_rule_with_both_fallbacks():
  k, s = 4, 3
  t_codes = np.arange(2 * k * s, dtype=np.float32).reshape(2, k, s)
  t_has = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
  s_codes = -np.ones((1, k, s), np.float32)
  s_has = np.array([[1, 0, 1, 1]], bool)
  mean = styles.MeanCodes(np.full((k, s), 100, np.float32), np.array([3, 0, 2, 1]))
  out = styles.mix_styles((t_codes, t_has), (s_codes, s_has), [0, 1, 3], alpha=1.0)
  np.testing.assert_array_equal(out[0, 0], -1)             # the source has it: the source's code
  np.testing.assert_array_equal(out[0, 1], t_codes[0, 1])   # the source lacks it: the target's own code
  np.testing.assert_array_equal(out[0, 2], t_codes[0, 2])   # not chosen
  np.testing.assert_array_equal(out[0, 3], t_codes[0, 3])   # the target lacks it: unchanged
  half = styles.mix_styles((t_codes, t_has), (s_codes, s_has), [0], alpha=0.5)
  np.testing.assert_allclose(half[1, 0], 0.5 * -1 + 0.5 * t_codes[1, 0])
  with_mean = styles.mix_styles((t_codes, t_has), (s_codes, s_has), [0, 1, 2], alpha=1.0, mean=mean)
  np.testing.assert_array_equal(with_mean[0, 1], t_codes[0, 1])  # no mean for class 1: the target's own
  s_has2 = np.array([[1, 0, 0, 1]], bool)
  m2 = styles.mix_styles((t_codes, t_has), (s_codes, s_has2), [2], alpha=1.0, mean=mean)
  np.testing.assert_array_equal(m2[0, 2], 100)  # the source lacks class 2 and a mean exists: the mean
  filled, has = styles.with_mean(t_codes, t_has, mean)
  np.testing.assert_array_equal(filled[0, 3], 100)   # absent, with a mean: the mean
  np.testing.assert_array_equal(filled[1, 2], 100)
  np.testing.assert_array_equal(has, t_has | mean.present[None])
  with pytest.raises(ValueError, match="class 7 is outside 0..3"):
    styles.mix_styles((t_codes, t_has), (s_codes, s_has), [7])
  with pytest.raises(ValueError, match=r"alpha=1.5 is outside \[0, 1\]"):
    styles.mix_styles((t_codes, t_has), (s_codes, s_has), [0], alpha=1.5)


def test_mean_codes_and_their_files(tmp_path):
  codes = np.array([[[1.0, 2.0], [0.0, 0.0]], [[3.0, 4.0], [5.0, 6.0]]], np.float32)
  presence = np.array([[True, False], [True, True]])
  mean = styles.mean_codes([(codes[:1], presence[:1]), (codes[1:], presence[1:])])
  np.testing.assert_allclose(mean.codes, [[2, 3], [5, 6]])
  np.testing.assert_array_equal(mean.counts, [2, 1])
  path = styles.save_mean_codes(str(tmp_path / "m.npz"), mean, {"step": 3})
  back = styles.load_mean_codes(path, num_channels=2, style_length=2)
  np.testing.assert_array_equal(back.codes, mean.codes)
  # the official layout: mean_style_code/mean/<j>/ACE.npy (class 1 absent here)
  root = tmp_path / "mean_style_code" / "mean"
  (root / "0").mkdir(parents=True)
  np.save(root / "0" / "ACE.npy", np.array([7, 8], np.float32))
  off = styles.load_mean_codes(str(tmp_path / "mean_style_code"), num_channels=3)
  np.testing.assert_array_equal(off.codes[0], [7, 8])
  np.testing.assert_array_equal(off.present, [True, False, False])
  with pytest.raises(FileNotFoundError, match="mean style codes file not found: .*nope.npz"):
    styles.load_mean_codes(str(tmp_path / "nope.npz"))
  with pytest.raises(ValueError, match="m.npz: mean codes of length 2, the model's style_length is 8"):
    styles.load_mean_codes(path, style_length=8)


# ------------------------------------------------------------------------------------------------
# bad inputs: one line that names the input
# ------------------------------------------------------------------------------------------------

def test_bad_inputs_name_the_input(tiny):
  family, variables, label, image = tiny
  base = {"label": label, "instance": label}
  cases = [
      ({"style_image": image[:, :16]}, r"style_image: size 16x32 \(HxW\) differs from the label map's 32x32"),
      ({"style_image": image[..., :1]}, r"style_image: 1 channels; SEAN's style encoder reads RGB"),
      ({"style_image": ((image + 1) * 127.5).astype(np.uint8)}, r"style_image: expected floats in \[-1, 1\]"),
      ({"style_image": image * 255}, r"style_image: values up to .* expected \[-1, 1\]"),
      ({"styles": np.zeros((2, 5, 8), np.float32)}, r"styles: style codes of shape \(2, 5, 8\), expected \[B, 11, 8\]"),
      ({"styles": np.zeros((3, 11, 8), np.float32)}, "styles: 3 rows of codes for 2 label maps"),
      ({}, "input 'style_image' is required"),
  ]
  for extra, msg in cases:
    with pytest.raises(ValueError, match=msg) as e:
      family.check_inputs({**base, **extra})
    assert "\n" not in str(e.value)
  assert family.class_ids(["sky", "3"], ("sky", "cloud")) == [0, 3]
  with pytest.raises(ValueError, match=r"style class 'lava' is not a class of this model \(sky, cloud\)"):
    family.class_ids(["sky", "lava"], ("sky", "cloud"))
  with pytest.raises(FileNotFoundError, match="mean_style_codes.npz"):
    family.mean_codes(os.path.join("/nonexistent", "mean_style_codes.npz"))


# ------------------------------------------------------------------------------------------------
# the mean-codes command on a work directory
# ------------------------------------------------------------------------------------------------

def test_mean_codes_command_writes_next_to_the_checkpoints(tmp_path, capsys):
  from spade_jax.train import checkpoint as ckpt_lib
  config = load_config("sean/tiny")
  config.data.name = "fake"
  workdir = tmp_path / "run"
  family = models.build(config)
  state = family.init_state(jax.random.PRNGKey(0))
  # random weights of a moderate scale: an initial state's eval forward saturates (tanh at exactly ±1)
  state = state.replace(variables=random_variables(family.model, seed=2, scale=0.2))
  ck = ckpt_lib.Checkpointer(str(workdir), config, family=family, async_save=False)
  ck.save(1, jax.device_get(state), {"step": 1}, force=True)
  ck.close()
  (workdir / "config.json").write_text(json.dumps(config.to_dict()))
  assert mean_codes_cmd.main(["--workdir", str(workdir), "--split", "train"]) == 2
  assert "--split train repeats forever: give --max-images" in capsys.readouterr().err
  assert not (workdir / styles.MEAN_CODES_FILE).exists()
  assert mean_codes_cmd.main(["--workdir", str(tmp_path / "empty")]) == 2
  assert "config.json: not found" in capsys.readouterr().err
  assert mean_codes_cmd.main(["--workdir", str(workdir)]) == 0
  mean = family.mean_codes(str(workdir / styles.MEAN_CODES_FILE))
  assert mean.codes.shape == (family.num_channels, 8) and mean.present.sum() >= 2
  # the same numbers as the codes of the val split, averaged per class
  from spade_jax.data.fake import FakeIterator
  variables = family.sampling_variables(state)
  pairs = [family.encode_styles(variables, b["image"], b["label"], b["instance"])
           for b in FakeIterator(config, "val")]
  np.testing.assert_allclose(mean.codes, styles.mean_codes(pairs).codes, atol=1e-6)
  codes = jnp.asarray(styles.with_mean(np.zeros((1,) + mean.codes.shape, np.float32),
                                       np.zeros((1, len(mean.counts)), bool), mean)[0])
  cfg = config.copy_and_resolve_references()
  cfg.eval.style, cfg.eval.mean_codes = "mean", str(workdir / styles.MEAN_CODES_FILE)
  fam = models.build(cfg)
  batch = next(FakeIterator(cfg, "val"))
  inputs = fam.eval_inputs({k: jnp.asarray(v) for k, v in batch.items()})
  assert "style_image" not in inputs and fam.eval_protocol()["style_setting"] == "mean codes"
  np.testing.assert_array_equal(inputs["styles"][0], codes[0])
  # the swap grid on the same run: a PNG and its numbers; an unknown class stops it, nothing written
  from spade_jax.models.sean import swap_grid
  out = tmp_path / "swap.png"
  assert swap_grid.main(["--workdir", str(workdir), "--classes", "lava", "--out", str(out)]) == 2
  assert "style class 'lava' is not a class of this model" in capsys.readouterr().err and not out.exists()
  assert swap_grid.main(["--workdir", str(workdir), "--classes", "0,1,2,3", "--val-batches", "2",
                         "--out", str(out)]) == 0
  numbers = json.loads((tmp_path / "swap.json").read_text())
  assert out.stat().st_size > 0 and numbers["classes"] == [0, 1, 2, 3]
  assert numbers["mean_abs_change_inside"] > 0 and numbers["target_index"] != numbers["photo_b_index"]
  # the eval harness in both settings (eval.style = "both", the default), each in its own folder
  from spade_jax.evaluate import restore
  assert "no mean style codes file" in family.eval_settings(str(tmp_path / "elsewhere"))["mean_codes"]
  cfg = config.copy_and_resolve_references()
  cfg.eval.save_images = False
  cfg.data.name, cfg.data.data_dir = "synthetic", str(tmp_path / "landscapes")  # the harness reads a split
  from spade_jax.evaluate import style as st  # the style metrics, as for the VAE (#19 part 4)
  size = cfg.data.crop_size
  st.save(str(tmp_path / "cls"), st.StyleNet(4).init(jax.random.key(3), np.zeros((1, size, size, 3), np.float32)),
          {"width": 4, "resolution": [size, size]})
  cfg.eval.style_classifier = str(tmp_path / "cls")
  cfg.batch_size = 2  # two val batches: the cross test (photo of the batch before) scores the second
  summary = restore.evaluate(cfg, str(workdir), fid=False, log=lambda *a: None)
  rec, mean = summary["settings"]["reconstruction"], summary["settings"]["mean_codes"]
  assert {k: v["images"] for k, v in rec["style"].items() if k != "classifier_real_val_accuracy"} == \
      {"real": rec["num_images"], "paired": rec["num_images"], "cross": rec["style"]["cross"]["images"]}
  assert 0 < rec["style"]["cross"]["images"] < rec["num_images"] and rec["style_accuracy_random"] is None
  # mean codes: no style photo, no random codes: its images are the chance level (the `random` test)
  assert mean["style_accuracy"] is None and mean["style_accuracy_cross"] is None
  assert mean["style"]["random"]["images"] == mean["num_images"] and 0 <= mean["style_accuracy_random"] <= 1
  assert mean["style_accuracy_real"] == rec["style_accuracy_real"]
  assert set(summary["settings"]) == {"reconstruction", "mean_codes"} and summary["step"] == 1
  assert json.loads((workdir / "eval" / "1" / "metrics.json").read_text()) == summary
  per = {n: json.loads((workdir / "eval" / "1" / n / "metrics.json").read_text()) for n in summary["settings"]}
  assert per["reconstruction"]["protocol"]["style_setting"] == "reconstruction"
  assert per["mean_codes"]["protocol"]["style_setting"] == "mean codes"
  assert per["mean_codes"]["protocol"]["setting"] == "mean_codes"
  assert all(p["num_images"] == summary["settings"][n]["num_images"] > 0 for n, p in per.items())
  assert summary["protocol"]["mean_codes"]["generation"].startswith("label map + mean style codes")
