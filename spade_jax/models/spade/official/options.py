"""Official option sets (`opt.txt`, `opt.pkl`, or a dict) → our config, one to one.

`opt.txt` lines look like `   crop_size: 256    [default: 512]`; the `[default: ...]` note is ignored.
"""

from __future__ import annotations

from typing import Optional

import ml_collections

from spade_jax.io.options import read_opt_txt, read_options  # noqa: F401  (re-exported)

# official option → (group, our field). Same names except where noted.
_FIELDS = {
    "ngf": ("model", "ngf"), "ndf": ("model", "ndf"), "norm_G": ("model", "norm_G"),
    "norm_D": ("model", "norm_D"), "norm_E": ("model", "norm_E"),
    "num_upsampling_layers": ("model", "num_upsampling_layers"), "use_vae": ("model", "use_vae"),
    "z_dim": ("model", "z_dim"), "num_D": ("model", "num_D"), "n_layers_D": ("model", "n_layers_D"),
    "nhidden": ("model", "nhidden"), "output_nc": ("model", "output_nc"), "init_type": ("model", "init_type"),
    "init_variance": ("model", "init_variance"), "no_ganFeat_loss": ("model", "no_ganFeat_loss"),
    "label_nc": ("data", "label_nc"), "contain_dontcare_label": ("data", "contain_dontcare_label"),
    "no_instance": ("data", "no_instance"), "crop_size": ("data", "crop_size"),
    "load_size": ("data", "load_size"), "aspect_ratio": ("data", "aspect_ratio"),
    "preprocess_mode": ("data", "preprocess_mode"), "no_flip": ("data", "no_flip"),
    "gan_mode": ("train", "gan_mode"), "lr": ("train", "lr"), "beta1": ("train", "beta1"),
    "beta2": ("train", "beta2"), "no_TTUR": ("train", "no_TTUR"), "lambda_feat": ("train", "lambda_feat"),
    "lambda_vgg": ("train", "lambda_vgg"), "lambda_kld": ("train", "lambda_kld"),
    "no_vgg_loss": ("train", "no_vgg_loss"),
}
_DATASETS = {"coco": "coco_stuff", "ade20k": "ade20k", "cityscapes": "cityscapes", "custom": "folder",
             "facades": "folder"}
_SUPPORTED = {"netG": ("spade",), "netD": ("multiscale",), "netD_subarch": ("n_layer",)}


def config_from_options(source, base: Optional[ml_collections.ConfigDict] = None) -> ml_collections.ConfigDict:
  """Official options → our ConfigDict (defaults from `configs/spade/default.py` for anything not given)."""
  opts = read_options(source)
  for opt, allowed in _SUPPORTED.items():
    if opt in opts and opts[opt] not in allowed:
      raise ValueError(f"official option {opt}={opts[opt]!r} is not supported (supported: {allowed})")
  if base is None:
    from spade_jax.configs.spade.default import get_config
    base = get_config()
  cfg = base.copy_and_resolve_references()
  for opt, (group, field) in _FIELDS.items():
    if opt in opts:
      current = cfg[group].get(field)
      value = opts[opt]
      if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
      cfg[group][field] = value
  if "batchSize" in opts:
    cfg.batch_size = int(opts["batchSize"])
  if "dataset_mode" in opts:
    cfg.data.name = _DATASETS.get(opts["dataset_mode"], opts["dataset_mode"])
  if "dataroot" in opts and opts.get("dataset_mode") != "custom":
    cfg.data.data_dir = str(opts["dataroot"])
  return cfg
