"""pix2pixHD family: official parameter counts, the strict converter, the frozen-global phase, coarse-to-fine
training through the engine (tiny) → feature clusters → synthesis, and the one-line errors for bad input."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util
from model_utils import load_config
from PIL import Image

import train_utils as testing
from spade_jax import models
from spade_jax.io import state_dict as sd
from spade_jax.models.pix2pixhd import features as feat_lib
from spade_jax.models.pix2pixhd import official
from spade_jax.models.pix2pixhd import step as step_lib
from spade_jax.models.pix2pixhd.model import Pix2PixHDModel

# Official counts (NVIDIA/pix2pixHD modules instantiated with these options; VGG not included). The
# cityscapes config's global stage is the official 1024x512 model, its final stage the 2048x1024 one.
OFFICIAL_COUNTS = [
    ("512p global", "global", {}, {"G": 182_546_755, "D": 5_603_202}),
    ("512p global + instance_feat", "global", {"instance_feat": True},
     {"G": 182_556_163, "D": 5_603_202, "E": 788_803}),
    ("1024p local", "final", {}, {"G": 182_857_059, "D": 8_404_803, "global": 182_537_344}),
    ("1024p local + instance_feat", "final", {"instance_feat": True},
     {"G": 182_871_171, "D": 8_404_803, "E": 788_803, "global": 182_546_752}),
]


@pytest.fixture(scope="module", autouse=True)
def _xla_cache():
  with testing.compilation_cache():
    yield


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("name,stage,opts,want", OFFICIAL_COUNTS, ids=[c[0] for c in OFFICIAL_COUNTS])
def test_official_parameter_counts(name, stage, opts, want):
  c = load_config("pix2pixhd/cityscapes")
  for k, v in opts.items():
    c.model[k] = v
  fam = models.build(c)
  if stage == "global":
    fam = fam.global_stage()
    assert (fam.image_hw, fam.config.model.ngf, fam.config.model.num_D) == ((512, 1024), 64, 2)
  else:
    assert fam.image_hw == (1024, 2048)
  model = fam.model
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0)))  # no allocation
  got = {net: _count(v["params"]) for net, v in shapes.items()}
  if "global" in want:
    got["global"] = _count(shapes["G"]["params"]["global"])
  assert got == want, name


def _official_state_dict(config, variables, net):
  """Our variables → an official-layout state dict (the converter's table read backwards)."""
  flat = traverse_util.flatten_dict(variables)
  out = {}
  for prefix, (path, kind) in official.module_table(config, net).items():
    if kind == official.NORM:
      continue
    w = np.asarray(flat[("params",) + path + ("kernel",)])
    out[f"{prefix}.weight"] = (w.transpose(3, 2, 0, 1) if kind == official.CONV
                               else w[::-1, ::-1].transpose(2, 3, 0, 1))
    out[f"{prefix}.bias"] = np.asarray(flat[("params",) + path + ("bias",)])
  return out


def test_converter_round_trip_and_one_error():
  c = load_config("pix2pixhd/tiny")
  model = Pix2PixHDModel(c)
  variables = jax.jit(model.init)(jax.random.key(1))
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  for net in ("G", "D", "E"):
    state = _official_state_dict(c, variables[net], net)
    back = official.state_dict_to_variables(state, c, template[net], net)
    for k, v in traverse_util.flatten_dict(variables[net]["params"]).items():
      np.testing.assert_array_equal(np.asarray(back["params"][k[0]] if len(k) == 1 else
                                               traverse_util.flatten_dict(back["params"])[k]), np.asarray(v))
  # without feature matching D is one Sequential per scale: [conv, lrelu], n × [conv, norm, lrelu], [conv]
  c2 = load_config("pix2pixhd/tiny")
  c2.model.no_ganFeat_loss = True
  m2 = Pix2PixHDModel(c2)
  d2 = jax.jit(m2.init)(jax.random.key(2))["D"]
  state = _official_state_dict(c2, d2, "D")
  n = c2.model.n_layers_D
  assert sorted({k.rsplit(".", 1)[0] for k in state if k.startswith("layer1.")}) == sorted(
      ["layer1.0"] + [f"layer1.{2 + 3 * i}" for i in range(n)] + [f"layer1.{2 + 3 * n}"])
  back = official.state_dict_to_variables(state, c2, jax.eval_shape(lambda: m2.init(jax.random.key(0)))["D"], "D")
  # the discriminator NAMED 1 computes result 0 (full resolution): our discriminator_0
  np.testing.assert_array_equal(np.asarray(back["params"]["discriminator_0"]["model0"]["conv"]["kernel"]),
                                np.asarray(d2["params"]["discriminator_0"]["model0"]["conv"]["kernel"]))
  assert state["layer1.0.weight"].shape[1] == c2.data.label_nc + 1 + 3
  # the transposed conv's layout: the official ConvTranspose2d on a delta input gives the flipped kernel
  w = np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(np.float32)  # [in, out, kh, kw]
  from spade_jax.nn.sean import ConvTranspose2x
  x = np.zeros((1, 3, 3, 2), np.float32)
  x[0, 1, 1, 0] = 1.0
  y = ConvTranspose2x(3).apply({"params": {"kernel": sd.conv_transpose_kernel(w), "bias": np.zeros(3)}}, x)
  # official: out[o, 2·1 − 1 + u, 2·1 − 1 + v] += W[0, o, u, v] for the input pixel (1, 1)
  np.testing.assert_allclose(np.asarray(y)[0, 1:4, 1:4, :], w[0].transpose(1, 2, 0), atol=1e-6)

  state = _official_state_dict(c, variables["G"], "G")
  state.pop("model.1.bias")
  state["model.99.weight"] = np.zeros((1,))
  state["model1_1.4.weight"] = np.zeros((3, 3, 3, 3))
  with pytest.raises(ValueError) as e:
    official.state_dict_to_variables(state, c, template["G"], "G")
  msg = str(e.value)
  assert "\n" not in msg and "3 problems" in msg
  assert "missing params/global/conv_in/conv/bias" in msg and "'model.99.weight'" in msg
  assert "model1_1.4.weight: shape" in msg


def test_frozen_global_phase_then_everything():
  c = load_config("pix2pixhd/tiny")
  c.train.global_steps = 0
  c.train.niter_fix_global = 1
  fam = models.build(c)
  assert fam.staged_train is None
  state = jax.jit(fam.init_state)(jax.random.PRNGKey(0))
  batch = fam.example_batches(1)[0]
  step = jax.jit(fam.train_step)
  g0 = jax.device_get(state.variables["G"]["params"])
  s1, m1 = step(state, batch)
  g1 = jax.device_get(s1.variables["G"]["params"])
  moved = lambda a, b: bool(jax.tree.reduce(lambda x, y: x or y, jax.tree.map(  # noqa: E731
      lambda p, q: bool(np.any(np.asarray(p) != np.asarray(q))), a, b)))
  assert not moved(g0["global"], g1["global"]), "global part moved during the frozen phase"
  assert moved(g0["local_1"], g1["local_1"])
  assert moved(jax.device_get(state.variables["E"]["params"]), jax.device_get(s1.variables["E"]["params"]))
  s2, _ = step(s1, batch)
  g2 = jax.device_get(s2.variables["G"]["params"])
  assert moved(g1["global"], g2["global"]), "global part not fine-tuned after niter_fix_global"
  assert int(s2.opt_state["G"][0].count) == 1  # G's Adam restarted at step niter_fix_global
  assert int(s2.opt_state["D"][0].count) == 2
  assert np.isfinite(m1["loss_G"]) and set(m1) >= {"G_GAN", "G_GAN_Feat", "D_real", "D_fake"}
  # linear decay of both rates over the last niter_decay_steps = 4 of 8 steps
  assert fam.learning_rates(0) == pytest.approx({"lr_G": 2e-4, "lr_D": 2e-4})
  assert fam.learning_rates(6) == pytest.approx({"lr_G": 1e-4, "lr_D": 1e-4})


def test_bad_inputs_one_line():
  fam = models.build(load_config("pix2pixhd/tiny"))
  h, w = fam.image_hw
  lab = np.zeros((1, h, w), np.int32)
  for bad in (10, 255):
    x = lab.copy()
    x[0, 3, 4] = bad
    with pytest.raises(ValueError, match=rf"^label: label id {bad} is outside 0\.\.9 \(label_nc=10"):
      fam.check_inputs({"label": x, "instance": lab})
  with pytest.raises(ValueError, match=r"^features: feature map of shape \(1, 32, 32, 2\), the model needs "
                                       r"\(1, 32, 32, 3\)"):
    fam.check_inputs({"label": lab, "instance": lab, "features": np.zeros((1, h, w, 2), np.float32)})
  c = load_config("pix2pixhd/tiny")
  c.data.crop_size = 36
  with pytest.raises(ValueError, match="divisible by 2\\^\\(n_downsample_global \\+ n_local_enhancers\\) = 8"):
    models.build(c)
  c = load_config("pix2pixhd/tiny")
  c.data.contain_dontcare_label = True
  with pytest.raises(ValueError, match="no don't-care channel"):
    models.build(c)


def test_sixteen_bit_instance_maps_read_unsigned(tmp_path):
  from spade_jax.data import decoding
  ids = np.array([[26001, 33000], [33001, 65535]], np.uint16)
  p = tmp_path / "inst.png"
  Image.fromarray(ids).save(p)
  with Image.open(p) as im:
    assert im.mode.startswith("I")
  got = decoding.id_array(decoding.open_image(str(p)))
  np.testing.assert_array_equal(got, ids.astype(np.int64))


def test_feature_map_from_clusters_rules():
  clusters = {"centers": np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2),
              "num_clusters": np.array([3, 0], np.int32)}
  label = np.array([[0, 0, 1], [0, 0, 1]])
  ids = np.array([[5, 6, 7], [5, 6, 7]])
  warnings = []
  out = feat_lib.feature_map(clusters, label, ids, {0: 2}, np.random.default_rng(0), warn=warnings.append)
  np.testing.assert_array_equal(out[:, :2], np.broadcast_to(clusters["centers"][0, 2], (2, 2, 2)))
  np.testing.assert_array_equal(out[:, 2], np.full((2, 2), feat_lib.DEFAULT_FEATURE))
  assert warnings == ["warning: no feature clusters for class 1: their features are 0.0"]
  with pytest.raises(ValueError, match=r"^--cluster 0=3: class 0 has 3 clusters \(valid indices 0\.\.2\)$"):
    feat_lib.feature_map(clusters, label, ids, {0: 3}, np.random.default_rng(0))
  with pytest.raises(ValueError, match=r"^--cluster 1=0: class 1 has no clusters$"):
    feat_lib.feature_map(clusters, label, ids, {1: 0}, np.random.default_rng(0))
  with pytest.raises(ValueError, match=r"--cluster '0=x'"):
    feat_lib.parse_choice("0=x", 2)
  # seeded random choice: the same seed, the same map
  a = feat_lib.feature_map(clusters, label, ids, {}, np.random.default_rng(3), warn=lambda m: None)
  b = feat_lib.feature_map(clusters, label, ids, {}, np.random.default_rng(3), warn=lambda m: None)
  np.testing.assert_array_equal(a, b)
  # rows: middle pixel in raster order, area relative to 1/32 of the image
  f = np.arange(6, dtype=np.float32).reshape(2, 3, 1)
  rows = feat_lib.instance_rows(f, label, ids)
  assert sorted(rows) == [0, 1] and rows[0].shape == (2, 2)
  assert rows[1][0, 0] == 5.0  # id 7's pixels are at raster positions 2 and 5: the middle one is 5
  big = feat_lib.instance_rows(np.zeros((8, 8, 1), np.float32), np.zeros((8, 8), int), np.zeros((8, 8), int))
  assert big[0][0, 1] == 64 / (64 // 32)


def test_staged_training_features_and_synthesis(tmp_path):
  """tiny: the global stage (16×16) then the local model (32×32) through the engine, resume, the
  clusters command, synthesis from clusters and from a photo, and the errors of a bad clusters file."""
  from spade_jax.train import loop
  c = load_config("pix2pixhd/tiny")
  work = str(tmp_path / "run")
  r = loop.train_and_evaluate(c, work)
  assert r.step == 8 and r.interrupted is None
  assert os.path.isdir(os.path.join(work, "global", "checkpoints", "4"))
  assert os.path.isdir(os.path.join(work, "checkpoints", "8"))
  final = jax.device_get(r.driver.to_host(r.state)).variables
  assert {"global", "local_1"} <= set(final["G"]["params"]) and "conv_out" not in final["G"]["params"]["global"]
  r2 = loop.train_and_evaluate(c, work)  # resume: both stages are complete
  assert r2.step == 8

  logs = []
  path = feat_lib.encode(c, work, log=logs.append)
  assert path == os.path.join(work, "features_clustered_003.npz") and os.path.isfile(path)
  with np.load(path) as f:
    assert f["centers"].shape == (10, 3, 3) and f["num_clusters"].max() >= 1
  present = int(np.argmax(np.load(path)["num_clusters"]))

  from spade_jax.evaluate.restore import load_for_inference
  fam, variables = load_for_inference(c, work, log=lambda *a: None)
  h, w = fam.image_hw
  lab = np.full((h, w), present, np.uint8)
  lab[:, : w // 2] = (present + 1) % 10
  lp = tmp_path / "labels"
  lp.mkdir()
  Image.fromarray(lab).save(lp / "a.png")
  out = feat_lib.generate_files(c, work, str(lp), str(tmp_path / "out"), cluster_choice=f"{present}=0", seed=1,
                                log=logs.append)
  img = np.asarray(Image.open(out[0]))
  assert img.shape == (h, w, 3)
  photo = tmp_path / "photo.png"
  Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(photo)
  out2 = feat_lib.generate_files(c, work, str(lp), str(tmp_path / "out2"), photo=str(photo), log=logs.append)
  assert np.asarray(Image.open(out2[0])).shape == (h, w, 3)
  with pytest.raises(FileNotFoundError, match=r"nope\.npz: clusters file not found; run"):
    feat_lib.generate_files(c, work, str(lp), str(tmp_path / "o3"), clusters_file=str(tmp_path / "nope.npz"),
                            log=logs.append)
  with pytest.raises(ValueError, match=rf"^--cluster {present}=7: class {present} has \d+ cluster"):
    feat_lib.generate_files(c, work, str(lp), str(tmp_path / "o4"), cluster_choice=f"{present}=7", log=logs.append)
  grid = feat_lib.style_grid(c, work, str(tmp_path / "grid.png"), rows=2, styles=2, log=logs.append)
  assert np.asarray(Image.open(grid)).shape == (2 * (2 * (h + 2) - 2), 2 * (5 * (w + 2) - 2), 3)
  assert feat_lib.main(["generate", "--config", "spade_jax/configs/pix2pixhd/tiny.py", "--workdir", work,
                        "--label", str(lp), "--cluster", "0=99", "--out", str(tmp_path / "o5")]) == 2


def test_contract_on_the_local_model(tmp_path):
  """The family contract (mesh and pmap steps agree, checkpoint → restore → the same step, samples,
  generate with each input) on the full local-enhancer model with features (the contract test itself
  runs the first stage, the global generator)."""
  import test_family_contract as contract
  c = load_config("pix2pixhd/tiny")
  c.train.global_steps = 0
  fam = models.build(c)
  assert fam.first_stage() is fam and fam.n_local == 1
  contract.test_state_step_checkpoint_sample_generate(fam, tmp_path)


def test_load_official_checkpoint_and_synthesize(tmp_path):
  """A released-style `latest_net_G.pth` + `latest_net_E.pth` (legacy torch format, written without torch)
  and `opt.txt` in the official layout → the family and its variables → `generate` equals the official
  eval forward of the parity fixture (encoded features)."""
  import collections
  import json
  from model_utils import missing, parity_dir, parity_fixtures
  from torch_writer import tensor, write_legacy
  from spade_jax.evaluate.synthesize import generate
  from spade_jax.models.pix2pixhd.family import Pix2PixHDFamily
  stems = parity_fixtures("pix2pixhd")
  if not stems:
    pytest.skip(missing("pix2pixHD parity fixtures", parity_dir("pix2pixhd")))
  meta = json.loads(stems[0].with_suffix(".json").read_text())
  case = sorted(meta["cases"])[0]
  opts = meta["cases"][case]["options"]
  if not opts.get("instance_feat"):
    pytest.skip("needs a fixture of a feature model")
  with np.load(stems[0].with_suffix(".npz")) as f:
    arrays = {k[len(case) + 1:]: f[k] for k in f.files if k.startswith(f"{case}/")}
  for net in ("G", "E"):
    sd_ = collections.OrderedDict((k[2:], tensor(v.astype(np.float32))) for k, v in arrays.items()
                                  if k.startswith(f"{net}/"))
    write_legacy(tmp_path / f"latest_net_{net}.pth", sd_)
  with open(tmp_path / "opt.txt", "w") as f:
    f.write("------------ Options -------------\n")
    for k, v in sorted(opts.items()):
      f.write(f"{k}: {v}\n")
    f.write("-------------- End ----------------\n")
  h, w = arrays["input/label_map"].shape[-2:]
  fam, variables = Pix2PixHDFamily.load_official(str(tmp_path / "latest_net_G.pth"), str(tmp_path / "opt.txt"),
                                                 config_overrides={"data.aspect_ratio": w / h})
  assert set(variables) == {"G", "E"} and fam.image_hw == (h, w)
  inputs = {"label": arrays["input/label_map"][:, 0].astype(np.int32),
            "instance": arrays["input/instance_map"][:, 0].astype(np.int32),
            "style_image": arrays["input/image"].astype(np.float32).transpose(0, 2, 3, 1)}
  img = np.asarray(generate(fam, variables, inputs))
  np.testing.assert_allclose(img.transpose(0, 3, 1, 2), arrays["eval/fake_image"], atol=1e-4)
  (tmp_path / "latest_net_E.pth").unlink()
  with pytest.raises(FileNotFoundError, match="latest_net_E.pth not found"):
    Pix2PixHDFamily.load_official(str(tmp_path / "latest_net_G.pth"), str(tmp_path / "opt.txt"))
