"""Style metrics (#19): the time-of-day / season classifier (labels from record names, training on a
toy task, save / load, one-line errors) and the eval harness's style accuracies: a stand-in family that
copies its style photo must score exactly the classifier's accuracy on the photos it copied (paired,
and the cross-style test against photo B), and the tiny SPADE VAE writes every style entry with its
protocol."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_utils import load_config

from spade_jax import models
from spade_jax.configs import common
from spade_jax.evaluate import style as st
from spade_jax.evaluate.loop import evaluate_generator
from spade_jax.models.base import Family, Input

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16


def test_parse_style_and_table_errors():
  assert st.parse_style("val/000003 lake night winter") == (4, 3)
  assert st.parse_style(b"train/000000 coast day spring") == (0, 0)
  with pytest.raises(ValueError, match=r"record name 'photo_1' does not end with '<time> <season>'"):
    st.parse_style("photo_1")
  source = [{"name": b"train/0 lake golden autumn"}, {"name": b"frankfurt_000000"}]
  with pytest.raises(ValueError, match=r"^cfg: its records carry no style \(only the synthetic landscapes do\)"):
    st.style_table(source, "cfg")
  np.testing.assert_array_equal(st.style_table(source[:1]), [[1, 2]])


def test_scores_joint_and_per_attribute():
  s = st.StyleScores()
  s.add("paired", [[0, 1], [2, 3], [4, 0]], [[0, 1], [2, 0], [1, 0]])
  s.add("paired", [[1, 1]], [[1, 1]])
  r = s.result()["paired"]
  assert r == {"joint": 0.5, "time": 0.75, "season": 0.75, "images": 4}
  with pytest.raises(ValueError, match=r"style scores: \(2, 2\) predictions for \(3, 2\) targets"):
    s.add("x", np.zeros((2, 2)), np.zeros((3, 2)))


def toy_batches(seed, n=16):
  """Time of day = brightness of the top half, season = the colour of the bottom half."""
  rng = np.random.default_rng(seed)
  top = np.linspace(-0.8, 0.8, 5)
  bottom = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, 1]], np.float32) * 0.7
  table = np.stack(np.meshgrid(np.arange(5), np.arange(4), indexing="ij"), -1).reshape(-1, 2)
  while True:
    index = rng.integers(len(table), size=n)
    t, s = table[index, 0], table[index, 1]
    img = np.zeros((n, SIZE, SIZE, 3), np.float32)
    img[:, :SIZE // 2] = top[t][:, None, None, None]
    img[:, SIZE // 2:] = bottom[s][:, None, None, :]
    img += rng.normal(0, 0.1, img.shape).astype(np.float32)
    yield {"image": img, "index": index, "mask": np.ones(n, bool), "table": table}


def test_classifier_learns_toy_styles_and_round_trips(tmp_path):
  it = toy_batches(0)
  table = next(toy_batches(0))["table"]
  params = st.train_classifier(it, table, 150, width=4, lr=5e-3, log=lambda *_: None)
  predict = st.make_predict(params, 4)
  val = [next(toy_batches(1)) for _ in range(2)]
  acc = st.accuracy(predict, val, table)
  assert acc["joint"] > 0.9 and acc["images"] == 32, acc
  st.save(str(tmp_path / "cls"), params, {"width": 4, "resolution": [SIZE, SIZE]})
  loaded, meta = st.load(str(tmp_path / "cls"))
  np.testing.assert_array_equal(loaded(val[0]["image"]), predict(val[0]["image"]))
  assert meta["weights_file"] == str(tmp_path / "cls" / "params.npz")
  with pytest.raises(FileNotFoundError, match=r"^opt: no params.npz \+ meta.json in .*nothing; train it with "
                     r"`python -m spade_jax.evaluate.style"):
    st.load(str(tmp_path / "nothing"), "opt")
  with pytest.raises(ValueError, match="opt: trained at 16x16, the generator makes 32x32 images"):
    st.check_resolution(meta, (32, 32), "opt")


def test_cli_rejects_bad_steps_in_one_line():
  p = subprocess.run([sys.executable, "-m", "spade_jax.evaluate.style", "--config", "configs/spade/tiny.py",
                      "--out", "/nonexistent/x", "--steps", "0"], cwd=REPO, capture_output=True, text=True,
                     timeout=300)
  assert p.returncode == 2
  assert p.stderr.strip().splitlines()[-1].endswith("--steps=0 must be ≥ 1"), p.stderr


# ----- the harness -----
@dataclasses.dataclass(frozen=True, eq=False)
class CopyStyle:
  """Stand-in family: copies its style photo (zeros without one; random codes give zeros too)."""
  config: object
  name = "copy_style"
  batch_keys = ("image", "label", "instance")
  multimodal = True

  @property
  def image_hw(self):
    return (self.config.data.crop_size,) * 2

  def input_spec(self):
    return (Input("label", "label", True), Input("style_image", "image", False))

  def eval_inputs(self, batch):
    return {"label": batch["label"], "style_image": batch["image"]}

  def diversity_inputs(self, batch):
    return {"label": batch["label"]}

  def generate(self, variables, inputs, rng=None):
    style = inputs.get("style_image")
    return jnp.zeros(inputs["label"].shape + (3,)) if style is None else style

  def eval_protocol(self):
    return {"generation": "copy"}

  photo_inputs = Family.photo_inputs
  cross_inputs = Family.cross_inputs  # the default: B's style photo replaces A's


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
  root = tmp_path_factory.mktemp("style_eval")
  config = common.complete(load_config("spade/tiny"))
  config.data.data_dir = str(root / "data")
  config.data.synthetic_val_size = 8
  config.batch_size = 2
  size = config.data.crop_size
  variables = st.StyleNet(4).init(jax.random.key(3), np.zeros((1, size, size, 3), np.float32))
  cls = str(root / "cls")
  st.save(cls, variables, {"width": 4, "resolution": [size, size], "real_val_accuracy": {"joint": 0.5}})
  return dict(config=config, root=root, cls=cls, predict=st.make_predict(variables, 4))


def _val(config):
  from spade_jax.data import builders
  from spade_jax.data.pipeline import make_iterator, prepared_dir
  table = st.style_table(builders.open_split(prepared_dir(config), "val"))
  batches = list(make_iterator(config, "val"))
  return table, np.concatenate([b["image"] for b in batches]), np.concatenate([b["index"] for b in batches])


def test_copying_generator_scores_the_classifier_on_the_copied_photos(harness):
  config, predict = harness["config"], harness["predict"]
  m = evaluate_generator(CopyStyle(config), {}, config, str(harness["root"] / "copy"), fid=False,
                         save_images=False, style_classifier=harness["cls"], log=lambda *_: None)
  table, images, index = _val(config)
  hits = (predict(images) == table[index])
  assert m["style"]["real"]["images"] == 8 and m["style"]["paired"]["images"] == 8
  assert m["style_accuracy_real"] == pytest.approx(hits.all(1).mean())
  assert m["style_accuracy"] == m["style_accuracy_real"]  # the copy is the paired photo itself
  # Cross: the label map of record i with the photo of record i - 2 (one batch earlier), scored against
  # that photo: the copy again, so the classifier's hits on records 0..5.
  assert m["style"]["cross"]["images"] == 6
  assert m["style_accuracy_cross"] == pytest.approx(hits[:6].all(1).mean())
  zeros = predict(np.zeros((8, *images.shape[1:]), np.float32))  # the random-code samples
  assert m["style_accuracy_random"] == pytest.approx((zeros == table[index]).all(1).mean())
  assert m["style"]["random"]["time"] == pytest.approx((zeros[:, 0] == table[index, 0]).mean())
  assert m["fid"] is None and m["protocol"]["fid"] is None
  with open(harness["root"] / "copy" / "metrics.json") as f:
    saved = json.load(f)
  assert saved["protocol"]["style"] == st.PROTOCOL
  assert saved["style"]["classifier_real_val_accuracy"] == {"joint": 0.5}
  assert len(saved["protocol"]["weights_sha256"]["style_classifier"]) == 64


def test_spade_vae_writes_every_style_accuracy(harness):
  config = harness["config"]
  family = models.build(config)
  variables = family.sampling_variables(family.init_state(jax.random.PRNGKey(0)))
  m = evaluate_generator(family, variables, config, str(harness["root"] / "spade"), fid=False, save_images=False,
                         style_classifier=harness["cls"], log=lambda *_: None)
  assert {k: m["style"][k]["images"] for k in ("paired", "random", "cross", "real")} == \
      {"paired": 8, "random": 8, "cross": 6, "real": 8}
  for k in ("style_accuracy", "style_accuracy_random", "style_accuracy_cross", "style_accuracy_real"):
    assert 0.0 <= m[k] <= 1.0
  assert m["protocol"]["generation"].startswith("style-guided")


def test_a_classifier_of_another_resolution_is_refused(harness, tmp_path):
  config = harness["config"]
  st.save(str(tmp_path / "c64"), {"params": {}}, {"width": 4, "resolution": [64, 64]})
  with pytest.raises(ValueError, match="config.eval.style_classifier: trained at 64x64, the generator makes 32x32"):
    evaluate_generator(CopyStyle(config), {}, config, str(tmp_path / "o"), fid=False,
                       style_classifier=str(tmp_path / "c64"), log=lambda *_: None)


# ----- the KL options of the SPADE step (not official; defaults = the official term) -----
def test_kld_warmup_and_free_bits():
  from spade_jax.gan.losses import kld_loss
  from spade_jax.models.spade.step import kld_term
  config = load_config("spade/tiny")
  rng = np.random.default_rng(0)
  mu = jnp.asarray(rng.normal(0, 0.3, (4, 8)), jnp.float32)
  logvar = jnp.asarray(rng.normal(0, 0.1, (4, 8)), jnp.float32)
  official = float(kld_loss(mu, logvar)) * config.train.lambda_kld
  assert float(kld_term(config, mu, logvar, 7)) == pytest.approx(official, rel=1e-6)
  config.train.kld_warmup_steps = 100
  assert float(kld_term(config, mu, logvar, 0)) == 0.0
  assert float(kld_term(config, mu, logvar, 25)) == pytest.approx(official / 4, rel=1e-6)
  assert float(kld_term(config, mu, logvar, 500)) == pytest.approx(official, rel=1e-6)
  config.train.kld_warmup_steps = 0
  config.train.kld_free_bits = 0.5  # nats per dimension: above every dimension's KL here
  per_dim = 0.5 * np.mean(np.square(mu) + np.exp(logvar) - 1 - logvar, axis=0)
  assert per_dim.max() < 0.5
  assert float(kld_term(config, mu, logvar, 7)) == pytest.approx(0.5 * 8 * 4 * config.train.lambda_kld, rel=1e-6)
  g = jax.grad(lambda m: kld_term(config, m, logvar, 7))(mu)
  assert float(jnp.abs(g).max()) == 0.0  # below the floor: no pull towards the prior
  config.train.kld_free_bits = -1.0
  from spade_jax.models.spade.checks import problems
  assert "train.kld_free_bits=-1.0 must be ≥ 0" in problems(config)
  config.train.kld_free_bits, config.train.lambda_l1 = 0.0, -2.0
  assert problems(config) == ["train.lambda_l1=-2.0 must be ≥ 0"]


def test_g_step_adds_the_l1_reconstruction_of_the_style_guided_fake(harness):
  """`train.lambda_l1` (not official, off by default): the G step's loss gains λ · mean |G(label,
  E(photo)) − photo|, logged as `L1`; the encoder gets a gradient through it."""
  from spade_jax.data.pipeline import make_iterator
  from spade_jax.models.spade.step import g_step
  config = harness["config"].copy_and_resolve_references()
  assert config.train.lambda_l1 == 0.0
  config.train.lambda_l1 = 3.0
  family = models.build(config)
  state = family.init_state(jax.random.PRNGKey(0))
  batch = {k: jnp.asarray(v) for k, v in next(iter(make_iterator(config, "train"))).items()
           if k in ("label", "instance", "image")}
  _, metrics, aux = jax.jit(lambda s, b: g_step(family.model, s, b))(state, batch)
  expect = 3.0 * float(jnp.mean(jnp.abs(aux["fake"] - batch["image"])))
  assert expect > 0.3 and float(metrics["L1"]) == pytest.approx(expect, rel=1e-5)
  assert set(metrics) == {"GAN", "GAN_Feat", "L1", "KLD"}
  assert float(jnp.abs(jax.tree_util.tree_leaves(aux["grads"]["E"])[0]).max()) > 0


def test_encoder_logvar_init_shifts_only_the_log_variance():
  """`model.logvar_init` (not official, default 0): fc_var's output + the constant, i.e. its bias
  initialised there; the parameters, mu and the official output at 0 are unchanged."""
  from spade_jax.models.spade.encoder import ConvEncoder
  x = jax.random.uniform(jax.random.key(1), (2, 32, 32, 3), minval=-1, maxval=1)
  official = ConvEncoder(ngf=2, crop_size=32, z_dim=4, norm_E="spectralnone")
  shifted = ConvEncoder(ngf=2, crop_size=32, z_dim=4, norm_E="spectralnone", logvar_init=-2.0)
  variables = official.init(jax.random.key(0), x, train=False)
  assert jax.tree.structure(variables) == jax.tree.structure(shifted.init(jax.random.key(0), x, train=False))
  (mu0, lv0), (mu1, lv1) = (net.apply(variables, x, train=False) for net in (official, shifted))
  np.testing.assert_array_equal(mu0, mu1)
  np.testing.assert_allclose(lv1, lv0 - 2.0, atol=1e-6)
  from spade_jax.models.spade.checks import problems
  config = load_config("spade/tiny")
  assert config.model.logvar_init == 0.0 and problems(config) == []
  config.model.logvar_init = -30.0
  assert problems(config) == ["model.logvar_init=-30.0 must be in [-10, 5] (a log-variance)"]


def test_style_code_mean_uses_the_posterior_mean(harness):
  """`eval.style_code` (default "sample", official): "mean" generates from a style photo with z = mu,
  so every draw gives the image of z = mu; "sample" draws mu + σ·eps per call; random z is unchanged."""
  from spade_jax.data.pipeline import make_iterator
  from spade_jax.models.spade.checks import problems
  config = harness["config"].copy_and_resolve_references()
  assert config.eval.style_code == "sample"
  family = models.build(config)
  variables = family.sampling_variables(family.init_state(jax.random.PRNGKey(0)))
  batch = next(iter(make_iterator(config, "val")))
  inputs = family.eval_inputs(batch)
  (mu, _), _ = family.model.encode(variables["E"], jnp.asarray(batch["image"]), train=False)
  at_mu = family.generate(variables, {k: v for k, v in inputs.items() if k != "style_image"} | {"z": mu})
  k1, k2 = jax.random.key(1), jax.random.key(2)
  sampled = [family.generate(variables, inputs, k) for k in (k1, k2)]
  assert float(jnp.abs(sampled[0] - sampled[1]).max()) > 1e-3
  assert float(jnp.abs(sampled[0] - at_mu).max()) > 1e-3
  config = config.copy_and_resolve_references()  # the family keeps its config object
  config.eval.style_code = "mean"
  mean_family = models.build(config)
  assert mean_family.posterior_mean and not family.posterior_mean
  for k in (k1, k2):
    np.testing.assert_allclose(mean_family.generate(variables, inputs, k), at_mu, atol=1e-6)
  no_photo = family.diversity_inputs(batch)
  np.testing.assert_array_equal(mean_family.generate(variables, no_photo, k1), family.generate(variables, no_photo, k1))
  assert "z = the posterior mean" in mean_family.eval_protocol()["generation"]
  assert problems(config) == []
  config.eval.style_code = "median"
  assert problems(config) == ["eval.style_code='median': expected one of sample, mean"]


def test_encoder_lr_mult_scales_only_the_encoder_steps(harness):
  """`train.lr_E_mult` (not official, default 1): E's Adam step × the factor, G's unchanged; the
  optimiser state changes shape, so a checkpoint of the other setting is named as a difference."""
  from spade_jax.data.pipeline import make_iterator
  from spade_jax.models.spade.checks import problems
  from spade_jax.models.spade.step import g_step
  base = harness["config"].copy_and_resolve_references()
  assert base.train.lr_E_mult == 1.0
  batch = {k: jnp.asarray(v) for k, v in next(iter(make_iterator(base, "train"))).items()
           if k in ("label", "instance", "image")}
  deltas, families = {}, {}
  for mult in (1.0, 3.0):
    config = base.copy_and_resolve_references()
    config.train.lr_E_mult = mult
    family = families[mult] = models.build(config)
    state = family.init_state(jax.random.PRNGKey(0))
    before = jax.tree.map(np.asarray, {k: state.variables[k]["params"] for k in ("G", "E")})
    new, _, _ = jax.jit(lambda s, b: g_step(family.model, s, b))(state, batch)
    deltas[mult] = jax.tree.map(lambda a, b: np.asarray(a) - b, {k: new.variables[k]["params"] for k in ("G", "E")},
                                before)
  for a, b in zip(jax.tree.leaves(deltas[1.0]["G"]), jax.tree.leaves(deltas[3.0]["G"])):
    np.testing.assert_array_equal(a, b)
  e1, e3 = jax.tree.leaves(deltas[1.0]["E"]), jax.tree.leaves(deltas[3.0]["E"])
  assert max(float(np.abs(x).max()) for x in e1) > 1e-6
  for a, b in zip(e1, e3):
    np.testing.assert_allclose(b, 3.0 * a, rtol=1e-5, atol=1e-9)
  assert families[1.0].state_differences(base, families[3.0].config) == [
      "train.lr_E_mult != 1 (checkpoint False, now True)"]
  config = base.copy_and_resolve_references()
  config.train.lr_E_mult = 0.0
  assert problems(config) == ["train.lr_E_mult=0.0 must be positive"]


def test_encoder_width_option():
  """`model.ngf_E` (not official, default 0 = model.ngf): the encoder's width alone."""
  from spade_jax.models.spade.checks import problems
  from spade_jax.models.spade.factory import build_encoder
  config = load_config("spade/tiny")
  config.model.use_vae = True
  assert config.model.ngf_E == 0 and build_encoder(config).ngf == config.model.ngf
  config.model.ngf_E = 3 * config.model.ngf
  assert build_encoder(config).ngf == 3 * config.model.ngf
  config.model.ngf_E = -1
  assert problems(config) == ["model.ngf_E=-1 must be ≥ 0 (0 = model.ngf)"]


def test_default_cross_inputs_put_the_style_photo_of_b_in_a(harness):
  """`Family.cross_inputs` (the cross test, `sample_grid.py`): B's style photo replaces A's, or is added
  where A's inputs have none; B's label map never leaks into A's."""
  family = models.build(harness["config"])
  lab_a, lab_b = np.zeros((1, 4, 4), np.int32), np.ones((1, 4, 4), np.int32)
  photo_a, photo_b = np.zeros((1, 4, 4, 3), np.float32), np.ones((1, 4, 4, 3), np.float32)
  b = {"label": lab_b, "instance": lab_b, "style_image": photo_b}
  for a in ({"label": lab_a, "instance": lab_a, "style_image": photo_a}, {"label": lab_a, "instance": lab_a}):
    out = family.cross_inputs({}, a, b)
    assert set(out) == {"label", "instance", "style_image"}
    assert out["style_image"] is photo_b and out["label"] is lab_a and out["instance"] is lab_a
  assert family.cross_inputs({}, {"label": lab_a}, {"label": lab_b}) == {"label": lab_a}
