"""Official options and state dicts → our config and variables (files the tests write themselves)."""

from __future__ import annotations

import collections
import json

import jax
import numpy as np
import pytest

from spade_jax.models.spade.model import SPADEModel
from spade_jax.models.spade.official.convert import load_state_dict_file, state_dict_to_variables, torch_key_to_path
from spade_jax.models.spade.official.options import config_from_options, read_opt_txt
from model_utils import find_fixture
from torch_writer import tensor, write_zip

OPT_TXT = """----------------- Options ---------------
             D_steps_per_G: 1
              aspect_ratio: 2.0                           \t[default: 1.0]
                 batchSize: 16                            \t[default: 1]
                     beta1: 0.0
                     beta2: 0.9
      contain_dontcare_label: False
                 crop_size: 512                           \t[default: 256]
                  dataroot: ./datasets/cityscapes/
              dataset_mode: cityscapes                    \t[default: coco]
                  gan_mode: hinge
                   gpu_ids: 0,1,2,3                       \t[default: 0]
                 label_nc: 35                            \t[default: 182]
               lambda_feat: 10.0
                        lr: 0.0002
                     n_layers_D: 4
                       ndf: 64
                       ngf: 64
                    norm_D: spectralinstance
                    norm_G: spectralspadesyncbatch3x3
                     num_D: 2
     num_upsampling_layers: more                          \t[default: normal]
               no_instance: False
                   use_vae: False
                     z_dim: 256
----------------- End -------------------
"""


def test_read_opt_txt_types_and_defaults_note(tmp_path):
  p = tmp_path / "opt.txt"
  p.write_text(OPT_TXT)
  opts = read_opt_txt(str(p))
  assert opts["aspect_ratio"] == 2.0 and opts["batchSize"] == 16 and opts["use_vae"] is False
  assert opts["gpu_ids"] == (0, 1, 2, 3) and opts["dataroot"] == "./datasets/cityscapes/"
  c = config_from_options(str(p))
  assert (c.data.name, c.data.label_nc, c.data.crop_size, c.data.aspect_ratio) == ("cityscapes", 35, 512, 2.0)
  assert c.model.num_upsampling_layers == "more" and c.batch_size == 16
  assert c.model.nhidden == 128 and isinstance(c.train.lambda_feat, float)
  assert SPADEModel(c).image_hw == (256, 512)


def test_options_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="official options file not found: .*nope.txt"):
    read_opt_txt(str(tmp_path / "nope.txt"))
  bad = tmp_path / "bad.txt"
  bad.write_text("this is not an option line\n")
  with pytest.raises(ValueError, match="bad.txt: cannot parse line"):
    read_opt_txt(str(bad))
  with pytest.raises(ValueError, match="netG='pix2pixhd' is not supported"):
    config_from_options({"netG": "pix2pixhd"})


def test_opt_pkl_is_read_without_running_code(tmp_path):
  import argparse
  import pickle
  p = tmp_path / "opt.pkl"
  p.write_bytes(pickle.dumps(argparse.Namespace(ngf=32, label_nc=7, use_vae=True)))
  c = config_from_options(str(p))
  assert (c.model.ngf, c.data.label_nc, c.model.use_vae) == (32, 7, True)
  evil = tmp_path / "evil.pkl"
  evil.write_bytes(pickle.dumps(collections.Counter()))
  with pytest.raises(pickle.UnpicklingError, match="unexpected object collections.Counter"):
    config_from_options(str(evil))


@pytest.mark.parametrize("key,expected", [
    ("fc.weight", ("params", ("fc", "kernel"))),
    ("head_0.conv_0.weight_orig", ("params", ("head_0", "conv_0", "kernel"))),
    ("up_0.conv_s.weight_u", ("batch_stats", ("up_0", "conv_s", "u"))),
    ("up_1.norm_1.param_free_norm.running_var", ("batch_stats", ("up_1", "norm_1", "param_free_norm", "var"))),
    ("up_1.norm_1.mlp_shared.0.bias", ("params", ("up_1", "norm_1", "mlp_shared", "bias"))),
    ("discriminator_1.model2.0.0.weight_v", ("batch_stats", ("discriminator_1", "model2", "conv", "v"))),
    ("discriminator_0.model0.0.bias", ("params", ("discriminator_0", "model0", "conv", "bias"))),
    ("discriminator_0.model1.0.1.weight", ("params", ("discriminator_0", "model1", "scale"))),
    ("discriminator_0.model1.0.1.running_mean", ("batch_stats", ("discriminator_0", "model1", "norm", "mean"))),
    ("layer6.0.weight_orig", ("params", ("layer6", "conv", "kernel"))),
    ("fc_var.bias", ("params", ("fc_var", "bias"))),
    ("head_0.norm_0.param_free_norm.num_batches_tracked", None),
])
def test_key_mapping(key, expected):
  assert torch_key_to_path(key) == expected


def test_unknown_key_is_refused():
  with pytest.raises(ValueError, match="unexpected official key 'fc.gamma'"):
    torch_key_to_path("fc.gamma")


@pytest.fixture(scope="module")
def small_fixture():
  stem = find_fixture(["G/conv_img.weight"])
  meta = json.loads(stem.with_suffix(".json").read_text())
  with np.load(stem.with_suffix(".npz")) as f:
    arrays = {k: f[k] for k in f.files}
  return meta, arrays


def _sd(arrays, prefix):
  return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def test_pth_and_npz_checkpoints_load_the_same(small_fixture, tmp_path):
  """An official `latest_net_G.pth` (written here in torch's zip format) and its `.npz` export."""
  meta, arrays = small_fixture
  model = SPADEModel(config_from_options(meta["options"]))
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  sd = _sd(arrays, "G/")
  pth = write_zip(tmp_path / "latest_net_G.pth", collections.OrderedDict((k, tensor(v)) for k, v in sd.items()))
  npz = tmp_path / "latest_net_G.npz"
  np.savez(npz, **sd)
  a = state_dict_to_variables(load_state_dict_file(str(pth)), template["G"], net="G")
  b = state_dict_to_variables(load_state_dict_file(str(npz)), template["G"], net="G")
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(x, y)
  k = np.asarray(a["params"]["head_0"]["conv_0"]["kernel"])
  np.testing.assert_array_equal(k, sd["head_0.conv_0.weight_orig"].astype(np.float32).transpose(2, 3, 1, 0))
  with pytest.raises(FileNotFoundError, match="official checkpoint not found: .*missing.pth"):
    load_state_dict_file(str(tmp_path / "missing.pth"))


def test_mismatched_config_is_refused_with_every_problem(small_fixture):
  meta, arrays = small_fixture
  opts = dict(meta["options"], ngf=16)
  model = SPADEModel(config_from_options(opts))
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  with pytest.raises(ValueError, match=r"official G state dict does not match the configured model "
                                       r"\(179 problems; are ngf/ndf.*\): G_middle_0.conv_0.weight_u: shape \(128,\) "
                                       r"\(as batch_stats/G_middle_0/conv_0/u\), model expects \(256,\)"):
    state_dict_to_variables(_sd(arrays, "G/"), template["G"], net="G")
  sd = _sd(arrays, "D/")
  del sd["discriminator_0.model1.0.0.weight_u"]
  sd["discriminator_5.model0.0.weight"] = sd["discriminator_0.model0.0.weight"]
  model = SPADEModel(config_from_options(meta["options"]))
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  with pytest.raises(ValueError, match=r"missing batch_stats/discriminator_0/model1/conv/u \(16,\).*"
                                       r"unexpected key 'discriminator_5.model0.0.weight'"):
    state_dict_to_variables(sd, template["D"], net="D")


def test_load_official_checkpoint_and_generate(small_fixture, tmp_path):
  """The released-checkpoint path: opt.txt + latest_net_G.pth → the official eval forward."""
  from spade_jax.models.spade.official.checkpoint import load_official
  meta, arrays = small_fixture
  opt = tmp_path / "opt.txt"
  opt.write_text("----------------- Options ---------------\n" + "".join(
      f"{k:>30}: {v}\n" for k, v in meta["options"].items()) + "----------------- End -------------------\n")
  sd = _sd(arrays, "G/")
  pth = write_zip(tmp_path / "latest_net_G.pth", collections.OrderedDict((k, tensor(v)) for k, v in sd.items()))
  model, variables = load_official(str(pth), str(opt))
  assert set(variables) == {"G"} and model.config.model.nhidden == 32
  batch = {"label": jax.numpy.asarray(arrays["input/label_map"][:, 0].astype(np.int32)),
           "instance": jax.numpy.asarray(arrays["input/instance_map"][:, 0].astype(np.int32))}
  fake, _, _ = jax.jit(lambda v, s: model.generate(v, s, train=False))(variables, model.semantics(batch))
  np.testing.assert_allclose(np.asarray(fake).transpose(0, 3, 1, 2), arrays["eval/fake_image"], atol=1e-4)
  vae_opt = tmp_path / "vae_opt.txt"
  vae_opt.write_text(opt.read_text().replace("use_vae: False", "use_vae: True"))
  with pytest.raises(FileNotFoundError, match="use_vae=True, so the encoder checkpoint is needed: .*latest_net_E.pth"):
    load_official(str(pth), str(vae_opt))


def test_encoder_and_vae_generator_state_dicts_convert():
  """Official E keys (`layer<k>.0.weight_orig/_u/_v`, `fc_mu`, `fc_var`) and the VAE stem `fc` (Linear)."""
  from model_utils import tiny_config
  config = tiny_config(**{"model.use_vae": True, "data.crop_size": 256, "model.ngf": 2})
  model = SPADEModel(config)
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  rng = np.random.default_rng(0)
  sd = {}
  for k in range(1, 7):  # crop 256 → six stride-2 layers, widths 2,4,8,16,16,16
    cout, cin = [2, 4, 8, 16, 16, 16][k - 1], [3, 2, 4, 8, 16, 16][k - 1]
    sd[f"layer{k}.0.weight_orig"] = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32)
    sd[f"layer{k}.0.weight_u"] = rng.standard_normal(cout).astype(np.float32)
    sd[f"layer{k}.0.weight_v"] = rng.standard_normal(cin * 9).astype(np.float32)
  for name in ("fc_mu", "fc_var"):
    sd[f"{name}.weight"] = rng.standard_normal((16, 16 * 4 * 4)).astype(np.float32)
    sd[f"{name}.bias"] = rng.standard_normal(16).astype(np.float32)
  e = state_dict_to_variables(sd, template["E"], net="E")
  np.testing.assert_array_equal(e["params"]["fc_mu"]["kernel"], sd["fc_mu.weight"].T)
  np.testing.assert_array_equal(e["batch_stats"]["layer3"]["conv"]["v"], sd["layer3.0.weight_v"])
  # The VAE stem: Linear z_dim → 16·ngf·sh·sw, stored [out, in], out in the official (C, H, W) order.
  fc = template["G"]["params"]["fc"]["kernel"]
  assert fc.shape == (16, 16 * 2 * 8 * 8)
  w = rng.standard_normal((fc.shape[1], fc.shape[0])).astype(np.float32)
  mapped = state_dict_to_variables({"fc.weight": w})
  np.testing.assert_array_equal(mapped["params"]["fc"]["kernel"], w.T)
