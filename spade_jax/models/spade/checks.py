"""The `spade` family's config checks: ranges and combinations that cannot work, found before any data
is prepared or anything compiled. Each problem is one string naming the field."""

from __future__ import annotations

import os

STYLE_CODES = ("sample", "mean")  # eval.style_code: z from a style photo (see configs/spade/default.py)


def problems(config, training: bool = True) -> list[str]:
  from spade_jax.data.dataset import PRESETS
  from spade_jax.data.fields import NAMES
  from spade_jax.data.layouts import FORMATS
  from spade_jax.data.transforms import PREPROCESS_MODES
  from spade_jax.gan.losses import GAN_MODES
  from spade_jax.models.spade.generator import latent_size
  from spade_jax.nn.modulation import MODULATIONS, parse_spade_norm
  from spade_jax.nn.norms import parse_norm_string

  m, d, t = config.model, config.data, config.train
  out = []

  def need(ok: bool, text: str):
    if not ok:
      out.append(text)

  # training
  need(t.lr > 0, f"train.lr={t.lr} must be positive")
  for name in ("beta1", "beta2"):
    need(0 <= t[name] < 1, f"train.{name}={t[name]} must be in [0, 1)")
  for name in ("lambda_feat", "lambda_vgg", "lambda_kld"):
    need(t[name] >= 0, f"train.{name}={t[name]} must be ≥ 0")
  need(t.gan_mode in GAN_MODES, f"train.gan_mode={t.gan_mode!r}: expected one of {', '.join(GAN_MODES)}")
  need(t.get("kld_warmup_steps", 0) >= 0, f"train.kld_warmup_steps={t.get('kld_warmup_steps')} must be ≥ 0")
  need(t.get("lambda_l1", 0) >= 0, f"train.lambda_l1={t.get('lambda_l1')} must be ≥ 0")
  need(t.get("lr_E_mult", 1.0) > 0, f"train.lr_E_mult={t.get('lr_E_mult')} must be positive")
  need(t.get("kld_free_bits", 0) >= 0, f"train.kld_free_bits={t.get('kld_free_bits')} must be ≥ 0")
  decay = int(t.get("niter_decay_steps", 0) or 0)
  need(0 <= decay <= int(config.total_steps),
       f"train.niter_decay_steps={decay} must be in [0, total_steps={config.total_steps}]")
  need(0 <= t.get("ema_decay", 0) < 1, f"train.ema_decay={t.get('ema_decay')} must be in [0, 1)")
  need(t.get("ema_bn_batches", 0) >= 0, f"train.ema_bn_batches={t.get('ema_bn_batches')} must be ≥ 0")
  if training and not t.no_vgg_loss and t.vgg_weights != "random":
    if not t.vgg_weights:
      out.append("train.no_vgg_loss=False needs train.vgg_weights (torchvision's vgg19 .pth, or a converted "
                 ".npz; see the README), or set train.no_vgg_loss=True")
    elif not os.path.isfile(t.vgg_weights):
      out.append(f"train.vgg_weights={t.vgg_weights}: no such file")

  # model
  for name in ("ngf", "ndf", "nhidden", "z_dim", "num_D", "n_layers_D", "output_nc"):
    if name in m:
      need(int(m[name]) >= 1, f"model.{name}={m[name]} must be ≥ 1")
  need(int(m.get("ngf_E", 0) or 0) >= 0, f"model.ngf_E={m.get('ngf_E')} must be ≥ 0 (0 = model.ngf)")
  need(-10.0 <= float(m.get("logvar_init", 0.0) or 0.0) <= 5.0,
       f"model.logvar_init={m.get('logvar_init')} must be in [-10, 5] (a log-variance)")
  need(m.norm in MODULATIONS, f"model.norm={m.norm!r}: expected one of {', '.join(sorted(MODULATIONS))}")
  for name, parse in (("norm_G", parse_spade_norm), ("norm_D", parse_norm_string), ("norm_E", parse_norm_string)):
    try:
      parse(m[name])
    except ValueError as e:
      out.append(str(e))
  try:
    latent_size(int(d.crop_size), float(d.aspect_ratio), m.num_upsampling_layers)
  except ValueError as e:
    out.append(str(e))

  # evaluation / inference
  e = config.get("eval") or {}
  need(e.get("style_code", "sample") in STYLE_CODES,
       f"eval.style_code={e.get('style_code')!r}: expected one of {', '.join(STYLE_CODES)}")

  # data
  need(d.name in FORMATS + NAMES, f"data.name={d.name!r}: expected one of {', '.join(FORMATS + NAMES)}")
  need(int(d.label_nc) >= 1, f"data.label_nc={d.label_nc} must be ≥ 1")
  preset = PRESETS.get(d.name)
  if preset and int(d.label_nc) < preset["label_nc"]:
    out.append(f"data.label_nc={d.label_nc} is below the {d.name} dataset's {preset['label_nc']} classes")
  need(d.aspect_ratio > 0, f"data.aspect_ratio={d.aspect_ratio} must be positive")
  need(d.preprocess_mode in PREPROCESS_MODES,
       f"data.preprocess_mode={d.preprocess_mode!r}: expected one of {', '.join(PREPROCESS_MODES)}")
  if d.preprocess_mode.endswith("crop") and int(d.load_size) < int(d.crop_size):
    out.append(f"data.load_size={d.load_size} is below data.crop_size={d.crop_size}: preprocess_mode "
               f"{d.preprocess_mode!r} crops crop_size out of an image resized to load_size")
  return out
