"""Official pix2pixHD (NVIDIA/pix2pixHD) state dicts and options → our variables and config.

The official networks are `nn.Sequential`s, so their keys are indices (`model.16.conv_block.5.weight`,
`model1_2.3.bias`, `scale2_layer1.0.weight`); `module_table(config, net)` lists, for the configured
architecture, every official module prefix with our module path and its kind (conv, transposed conv, norm),
and `state_dict_to_variables` converts strictly through `spade_jax.io.state_dict`:
  * G: global part `model.<i>` (its conv at 1, the stride-2 convs at 4, 7, …, the residual blocks, the
    transposed convs, and — for `netG=global` — the final conv); enhancer n: `model<n>_1.{1,4}` and
    `model<n>_2.{blocks, n_blocks_local (transposed), n_blocks_local + 4 (final conv of the last)}`;
  * E: `model.<i>` likewise; D: `scale<s>_layer<j>.0` (with feature matching) or `layer<s>.<i>` (without),
    where the discriminator NAMED s computes result num_D − 1 − s (result 0 = full resolution), i.e. our
    `discriminator_<num_D − 1 − s>`.
BatchNorm (`norm=batch`): `weight`/`bias` → our `scale`/`bias`, `running_mean/var` → batch_stats;
`num_batches_tracked` is not modelled.

    family, variables = Pix2PixHDFamily.load_official("checkpoints/label2city_1024p/latest_net_G.pth",
                                                      "checkpoints/label2city_1024p/opt.txt")
"""

from __future__ import annotations

import os
from typing import Optional

import jax
import ml_collections

from spade_jax.io import state_dict as sd
from spade_jax.models.pix2pixhd.model import n_local_enhancers, uses_features

CONV, CONVT, NORM = "conv", "convT", "norm"


def _unit(table: dict, prefix: str, index: int, path: tuple, kind: str = CONV) -> None:
  """A conv (+ its norm at index + 1) of a Sequential, our `Unit` at `path`."""
  table[f"{prefix}.{index}"] = (path + ("conv",), kind)
  table[f"{prefix}.{index + 1}"] = (path + ("norm",), NORM)


def _block(table: dict, prefix: str, path: tuple) -> None:
  _unit(table, f"{prefix}.conv_block", 1, path + ("unit_0",))
  table[f"{prefix}.conv_block.5"] = (path + ("conv_1",), CONV)
  table[f"{prefix}.conv_block.6"] = (path + ("norm_1",), NORM)


def _global(table: dict, prefix: str, path: tuple, n_down: int, n_blocks: int, final: bool) -> None:
  _unit(table, prefix, 1, path + ("conv_in",))
  i = 4
  for k in range(n_down):
    _unit(table, prefix, i, path + (f"down_{k}",))
    i += 3
  for b in range(n_blocks):
    _block(table, f"{prefix}.{i}", path + (f"block_{b}",))
    i += 1
  for k in range(n_down):
    _unit(table, prefix, i, path + (f"up_{k}",), CONVT)
    i += 3
  if final:
    table[f"{prefix}.{i + 1}"] = (path + ("conv_out", "conv"), CONV)


def module_table(config, net: str) -> dict[str, tuple[tuple[str, ...], str]]:
  """Official module prefix → (our module path, kind) for net G, D or E of `config`."""
  m = config.model
  table: dict = {}
  if net == "G":
    n_loc = n_local_enhancers(config)
    _global(table, "model", ("global",), int(m.n_downsample_global), int(m.n_blocks_global), final=n_loc == 0)
    nb = int(m.n_blocks_local)
    for n in range(1, n_loc + 1):
      path = (f"local_{n}",)
      _unit(table, f"model{n}_1", 1, path + ("conv_in",))
      _unit(table, f"model{n}_1", 4, path + ("down",))
      for b in range(nb):
        _block(table, f"model{n}_2.{b}", path + (f"block_{b}",))
      _unit(table, f"model{n}_2", nb, path + ("up",), CONVT)
      if n == n_loc:
        table[f"model{n}_2.{nb + 4}"] = (path + ("conv_out", "conv"), CONV)
  elif net == "E":  # a GlobalGenerator without residual blocks
    _global(table, "model", ("trunk",), int(m.n_downsample_E), 0, final=True)
  elif net == "D":
    num_d, n_layers = int(m.num_D), int(m.n_layers_D)
    for s in range(num_d):
      ours = f"discriminator_{num_d - 1 - s}"
      for j in range(n_layers + 2):
        normed = 1 <= j <= n_layers
        if not m.no_ganFeat_loss:
          conv, norm = f"scale{s}_layer{j}.0", f"scale{s}_layer{j}.1"
        else:  # one Sequential: [conv, lrelu], n_layers × [conv, norm, lrelu], [conv]
          idx = 0 if j == 0 else 2 + 3 * (j - 1)
          conv, norm = f"layer{s}.{idx}", f"layer{s}.{idx + 1}"
        table[conv] = ((ours, f"model{j}", "conv"), CONV)
        if normed:
          table[norm] = ((ours, f"model{j}"), NORM)
  else:
    raise ValueError(f"net must be G, D or E, got {net!r}")
  return table


def make_rule(config, net: str):
  """`key → sd.Mapped` for net G / D / E of `config` (raises ValueError for keys it does not know)."""
  table = module_table(config, net)

  def rule(key: str) -> Optional[sd.Mapped]:
    module, _, leaf = key.rpartition(".")
    if leaf == "num_batches_tracked":
      return None
    if module not in table:
      raise ValueError("no such module in the configured architecture")
    path, kind = table[module]
    if kind in (CONV, CONVT):
      if leaf == "weight":
        return sd.Mapped(("params",) + path + ("kernel",),
                         sd.conv_kernel if kind == CONV else sd.conv_transpose_kernel)
      if leaf == "bias":
        return sd.Mapped(("params",) + path + ("bias",))
    else:  # BatchNorm2d(affine): our Norm (params scale/bias, stats in its `norm` child) or D's NormLayer
      stats = path + ("norm",)
      leaves = {"weight": ("params",) + path + ("scale",), "bias": ("params",) + path + ("bias",),
                "running_mean": ("batch_stats",) + stats + ("mean",),
                "running_var": ("batch_stats",) + stats + ("var",)}
      if leaf in leaves:
        return sd.Mapped(leaves[leaf])
    raise ValueError(f"unknown parameter {leaf!r} for a {kind} module")

  return rule


def state_dict_to_variables(state, config, template: Optional[dict], net: str) -> dict:
  """Official state dict of net G / D / E → our variables (strict against `template` when given)."""
  m = config.model
  hint = (f"are netG={m.netG!r}, ngf={m.ngf}, n_downsample_global={m.n_downsample_global}, "
          f"n_blocks_global={m.n_blocks_global}, n_local_enhancers={m.n_local_enhancers}, "
          f"n_blocks_local={m.n_blocks_local}, label_nc={config.data.label_nc}, "
          f"no_instance={config.data.no_instance}, instance_feat/label_feat, feat_num, nef, n_downsample_E, "
          f"num_D={m.num_D}, n_layers_D={m.n_layers_D}, ndf={m.ndf}, norm={m.norm!r} the checkpoint's?")
  return sd.to_variables(state, make_rule(config, net), template, what=f"official pix2pixHD {net} state dict",
                         hint=hint)


# ----------------------------------------------------------------------------------------------
# options
# ----------------------------------------------------------------------------------------------

_MODEL = ("netG", "ngf", "n_downsample_global", "n_blocks_global", "n_local_enhancers", "n_blocks_local", "norm",
          "output_nc", "instance_feat", "label_feat", "feat_num", "nef", "n_downsample_E", "n_clusters", "num_D",
          "n_layers_D", "ndf", "no_ganFeat_loss")
_DATA = {"label_nc": "label_nc", "no_instance": "no_instance", "no_flip": "no_flip", "loadSize": "load_size"}
_TRAIN = ("lr", "beta1", "lambda_feat", "no_lsgan", "no_vgg_loss")


def config_from_options(source, base: Optional[ml_collections.ConfigDict] = None) -> ml_collections.ConfigDict:
  """Official options (`opt.txt` path, `opt.pkl`, or a dict) → our config (defaults from
  `configs/pix2pixhd/default.py` for anything not given). The image size: `fineSize` for the crop
  modes, else `loadSize` wide; the aspect ratio stays the base config's (Cityscapes: 2)."""
  from spade_jax.io.options import read_options
  opts = read_options(source)
  if opts.get("model", "pix2pixHD") != "pix2pixHD":
    raise ValueError(f"official option model={opts['model']!r} is not supported (only pix2pixHD)")
  if int(opts.get("label_nc", 35)) == 0:
    raise ValueError("official option label_nc=0 (RGB input images instead of label maps) is not supported")
  if base is None:
    from spade_jax.configs.pix2pixhd.default import get_config
    base = get_config()
  cfg = base.copy_and_resolve_references()

  def put(group, field, value):
    current = group.get(field)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
      value = float(value)
    group[field] = value

  for k in _MODEL:
    if k in opts:
      put(cfg.model, k, opts[k])
  for k, field in _DATA.items():
    if k in opts:
      put(cfg.data, field, opts[k])
  for k in _TRAIN:
    if k in opts:
      put(cfg.train, k, opts[k])
  if "beta1" in opts:
    cfg.train.beta2 = 0.999
  if "batchSize" in opts:
    cfg.batch_size = int(opts["batchSize"])
  mode = opts.get("resize_or_crop")
  if mode is not None:
    cfg.data.crop_size = int(opts.get("fineSize", cfg.data.crop_size)) if "crop" in mode else \
        int(opts.get("loadSize", cfg.data.crop_size))
  if "dataroot" in opts:
    cfg.data.data_dir = str(opts["dataroot"])
  if "niter_fix_global" in opts:
    cfg.train.niter_fix_global = int(opts["niter_fix_global"])  # epochs there; steps here (see the config)
  return cfg


def _sibling(path: str, net: str) -> str:
  head, tail = os.path.split(path)
  return os.path.join(head, tail.replace("_net_G.", f"_net_{net}."))


def load_official(net_G: str, options, *, net_E: Optional[str] = None, net_D: Optional[str] = None,
                  config_overrides: Optional[dict] = None):
  """→ (config, variables {"G"[, "E"][, "D"]}) from the released `<which>_net_G.pth` (+ `_net_E.pth` beside it
  when the options use features) and `opt.txt`, read without torch."""
  from spade_jax.models.pix2pixhd.model import Pix2PixHDModel
  from spade_jax.io.state_dict import load_file as load_state_dict_file
  config = config_from_options(options)
  for key, value in (config_overrides or {}).items():
    group, _, field = key.rpartition(".")
    (config[group] if group else config)[field] = value
  model = Pix2PixHDModel(config)
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  variables = {"G": state_dict_to_variables(load_state_dict_file(net_G), config, template["G"], "G")}
  if uses_features(config):
    net_E = net_E or _sibling(net_G, "E")
    if not os.path.isfile(net_E):
      raise FileNotFoundError(f"the options use encoder features (instance_feat/label_feat), so the encoder "
                              f"checkpoint is needed: {net_E} not found (pass net_E=...)")
    variables["E"] = state_dict_to_variables(load_state_dict_file(net_E), config, template["E"], "E")
  if net_D:
    variables["D"] = state_dict_to_variables(load_state_dict_file(net_D), config, template["D"], "D")
  return config, variables

