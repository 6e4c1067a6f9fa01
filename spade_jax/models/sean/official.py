"""The official SEAN (ZPdesu/SEAN) options and state dicts → our config and variables, strictly.

    family, variables = SEANFamily.load_official("checkpoints/CelebA-HQ_pretrained/latest_net_G.pth",
                                                 "checkpoints/CelebA-HQ_pretrained/opt.txt")

Names map mechanically (G):
  `Zencoder.model.<i>.weight`              → params/Zencoder/model_<i>/kernel (i = 10: the transposed conv)
  `up_0.ace_s.Spade.mlp_shared.0.weight`   → params/up_0/norm_s/Spade/mlp_shared/kernel
  `up_0.ace_0.fc_mu0 … fc_mu18.weight`     → params/up_0/norm_0/fc_mu_kernel [19, in, out] (one stacked array)
  `up_0.ace_0.param_free_norm.running_mean` → batch_stats/up_0/norm_0/param_free_norm/mean
  `up_0.conv_0.weight_orig / _u / _v`     → params/up_0/conv_0/kernel, batch_stats/up_0/conv_0/{u, v}
  `up_0.ace_0.noise_var`, `blending_gamma`, `blending_beta` → params/up_0/norm_0/<same>
and D as SPADE's (`discriminator_<i>.model<j>.0[.0].weight_orig` → params/discriminator_<i>/model<j>/conv/kernel).
Not modelled, hence skipped: `num_batches_tracked`, and the buffers of the norm the official SPADE branch
builds but never calls (`*.Spade.param_free_norm.*`). Everything else must match the configured model:
one error lists every missing, unexpected and mis-shaped entry.
"""

from __future__ import annotations

import re
from typing import Mapping, Optional

import jax
import ml_collections
import numpy as np

from spade_jax.io import state_dict as sd
from spade_jax.io.options import read_options

# official option → (group, our field)
_FIELDS = {
    "ngf": ("model", "ngf"), "ndf": ("model", "ndf"), "norm_G": ("model", "norm_G"), "norm_D": ("model", "norm_D"),
    "num_upsampling_layers": ("model", "num_upsampling_layers"), "num_D": ("model", "num_D"),
    "n_layers_D": ("model", "n_layers_D"), "output_nc": ("model", "output_nc"), "init_type": ("model", "init_type"),
    "init_variance": ("model", "init_variance"), "no_ganFeat_loss": ("model", "no_ganFeat_loss"),
    # widths the official code hard-codes (128, 512): options only of patched runs such as the fixtures
    "nhidden": ("model", "nhidden"), "style_length": ("model", "style_length"),
    "label_nc": ("data", "label_nc"), "contain_dontcare_label": ("data", "contain_dontcare_label"),
    "no_instance": ("data", "no_instance"), "crop_size": ("data", "crop_size"), "load_size": ("data", "load_size"),
    "aspect_ratio": ("data", "aspect_ratio"), "preprocess_mode": ("data", "preprocess_mode"),
    "no_flip": ("data", "no_flip"),
    "gan_mode": ("train", "gan_mode"), "lr": ("train", "lr"), "beta1": ("train", "beta1"),
    "beta2": ("train", "beta2"), "no_TTUR": ("train", "no_TTUR"), "lambda_feat": ("train", "lambda_feat"),
    "lambda_vgg": ("train", "lambda_vgg"), "no_vgg_loss": ("train", "no_vgg_loss"),
}
_SUPPORTED = {"netG": ("spade",), "netD": ("multiscale",), "netD_subarch": ("n_layer",), "model": ("pix2pix",)}
_DATASETS = {"custom": "folder"}
TRANSPOSED_CONVS = ("10",)  # Zencoder.model.10 is the ConvTranspose2d


def config_from_options(source, base: Optional[ml_collections.ConfigDict] = None) -> ml_collections.ConfigDict:
  """Official options → our ConfigDict (`spade_jax/configs/sean/default.py` for anything not given).
  `use_vae` is accepted and ignored (officially its encoder is built but never called)."""
  opts = read_options(source)
  for opt, allowed in _SUPPORTED.items():
    if opt in opts and opts[opt] not in allowed:
      raise ValueError(f"official option {opt}={opts[opt]!r} is not supported (supported: {allowed})")
  if opts.get("num_upsampling_layers") == "most":
    raise ValueError("official option num_upsampling_layers='most' does not run in the official SEAN "
                     "(its conv_img expects ngf/2 channels but up_4 is never called): use normal or more")
  if base is None:
    from spade_jax.configs.sean.default import get_config
    base = get_config()
  cfg = base.copy_and_resolve_references()
  for opt, (group, field) in _FIELDS.items():
    if opt in opts:
      value, current = opts[opt], cfg[group].get(field)
      if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
      cfg[group][field] = value
  if "batchSize" in opts:
    cfg.batch_size = int(opts["batchSize"])
  if "dataset_mode" in opts:
    cfg.data.name = _DATASETS.get(opts["dataset_mode"], opts["dataset_mode"])
  for opt, field in (("label_dir", "label_dir"), ("image_dir", "image_dir"), ("instance_dir", "instance_dir")):
    if opts.get(opt) and opts.get("dataset_mode") == "custom":
      cfg.data[field] = str(opts[opt])
  return cfg


# ------------------------------------------------------------------------------------------------
# state dicts
# ------------------------------------------------------------------------------------------------

_FC_MU = re.compile(r"^(.*)\.fc_mu(\d+)\.(weight|bias)$")
_BAD_FC = ".fc_mu<j>."


def stack_style_linears(state: Mapping[str, np.ndarray]) -> dict:
  """`<layer>.fc_mu<j>.weight/bias` (j = 0..n-1) → `<layer>.fc_mu.kernel` `[n, in, out]` and
  `<layer>.fc_mu.bias` `[n, out]`; other keys unchanged. Gaps in j or mixed shapes become one key
  `<layer>.fc_mu<j>.<leaf> (<reason>)` that the converter reports."""
  out, groups = {}, {}
  for key, value in state.items():
    m = _FC_MU.match(key)
    if m:
      groups.setdefault((m.group(1), m.group(3)), {})[int(m.group(2))] = np.asarray(value)
    else:
      out[key] = value
  for (prefix, leaf), items in groups.items():
    idx = sorted(items)
    shapes = {items[j].shape for j in idx}
    if idx != list(range(len(idx))) or len(shapes) != 1:
      missing = sorted(set(range(max(idx) + 1)) - set(idx))
      reason = f"fc_mu indices {missing} missing" if missing else f"fc_mu shapes differ: {sorted(shapes)}"
      out[f"{prefix}{_BAD_FC}{leaf} ({reason})"] = None
      continue
    stacked = np.stack([items[j] for j in idx])
    out[f"{prefix}.fc_mu.{'kernel' if leaf == 'weight' else 'bias'}"] = (
        stacked.transpose(0, 2, 1) if leaf == "weight" else stacked)
  return out


_LEAVES = {"weight": ("params", "kernel"), "weight_orig": ("params", "kernel"), "bias": ("params", "bias"),
           "weight_u": ("batch_stats", "u"), "weight_v": ("batch_stats", "v"),
           "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var"),
           "noise_var": ("params", "noise_var"), "blending_gamma": ("params", "blending_gamma"),
           "blending_beta": ("params", "blending_beta")}
_MODULES = [
    (re.compile(r"^Zencoder\.model\.(\d+)$"), r"Zencoder.model_\1"),
    (re.compile(r"^(.*)\.ace_(\d|s)(\..*)?$"), r"\1.norm_\2\3"),
    (re.compile(r"^(discriminator_\d+)\.(model\d+)\.0(\.0)?$"), r"\1.\2.conv"),
]


def official_rule(key: str) -> Optional[sd.Mapped]:
  """One official G or D key → where it goes (None: not modelled)."""
  module, _, leaf = key.rpartition(".")
  if leaf == "num_batches_tracked" or ".Spade.param_free_norm" in f".{module}":
    return None
  if _BAD_FC in key:
    raise ValueError("incomplete style Linear layers")
  for pattern, repl in _MODULES:
    module = pattern.sub(repl, module)
  module = module.replace(".Spade.mlp_shared.0", ".Spade.mlp_shared")
  parts = tuple(module.split("."))
  if parts[-1] == "fc_mu":  # stacked by stack_style_linears
    return sd.Mapped(("params",) + parts[:-1] + (f"fc_mu_{leaf}",))
  if leaf not in _LEAVES:
    raise ValueError(f"unknown parameter name {leaf!r}")
  collection, name = _LEAVES[leaf]
  transform = sd.identity
  if name == "kernel":
    transposed = parts[0] == "Zencoder" and parts[1] in tuple(f"model_{i}" for i in TRANSPOSED_CONVS)
    transform = sd.conv_transpose_kernel if transposed else sd.conv_kernel
  return sd.Mapped((collection,) + parts + (name,), transform)


def state_dict_to_variables(state: Mapping[str, np.ndarray], template: Optional[dict] = None,
                            net: str = "G") -> dict:
  """An official netG / netD state dict → Flax variables, checked against `template` when given."""
  return sd.to_variables(stack_style_linears(state), official_rule, template, what=f"official SEAN net{net} state dict",
                         hint="are ngf/ndf, label_nc, contain_dontcare_label, no_instance, norm_G, "
                              "num_upsampling_layers, style_length, nhidden, n_layers_D, num_D the checkpoint's?")


def load_official(net_G: str, options, *, net_D: Optional[str] = None, config_overrides: Optional[dict] = None):
  """→ (config, variables {"G", ["D"]}) from the official options and checkpoint files."""
  from spade_jax.models.sean.model import SEANModel
  config = config_from_options(options)
  for key, value in (config_overrides or {}).items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  model = SEANModel(config)
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  variables = {"G": state_dict_to_variables(sd.load_file(net_G), template["G"], "G")}
  if net_D:
    variables["D"] = state_dict_to_variables(sd.load_file(net_D), template["D"], "D")
  return config, variables
