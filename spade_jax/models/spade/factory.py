"""Builds the G / D / E modules from a config (see `spade_jax/configs/spade/default.py`)."""

from __future__ import annotations

from typing import Optional

from spade_jax.gan.discriminator import MultiscaleDiscriminator
from spade_jax.models.spade.encoder import ConvEncoder
from spade_jax.models.spade.generator import SPADEGenerator
from spade_jax.nn.modulation import make_modulation, parse_spade_norm
from spade_jax.nn.norms import kernel_init
from spade_jax.nn.precision import compute_dtype  # noqa: F401  (re-exported for callers)


def _init(config):
  return kernel_init(config.model.get("init_type", "xavier"), config.model.get("init_variance", 0.02))


def build_generator(config, axis_name: Optional[str] = None) -> SPADEGenerator:
  m, d = config.model, config.data
  dtype = compute_dtype(config)
  spectral, _, _ = parse_spade_norm(m.norm_G)
  return SPADEGenerator(
      modulation=make_modulation(m, axis_name=axis_name, dtype=dtype), ngf=m.ngf, crop_size=d.crop_size,
      aspect_ratio=d.aspect_ratio, num_upsampling_layers=m.num_upsampling_layers, use_vae=m.use_vae,
      z_dim=m.z_dim, output_nc=m.get("output_nc", 3), spectral=spectral, w_init=_init(config), dtype=dtype)


def build_discriminator(config, axis_name: Optional[str] = None) -> MultiscaleDiscriminator:
  m = config.model
  return MultiscaleDiscriminator(num_D=m.num_D, ndf=m.ndf, n_layers_D=m.n_layers_D, norm_D=m.norm_D,
                                 axis_name=axis_name, w_init=_init(config), dtype=compute_dtype(config),
                                 intermediate=not m.get("no_ganFeat_loss", False))


def build_encoder(config, axis_name: Optional[str] = None) -> Optional[ConvEncoder]:
  m = config.model
  if not m.use_vae:
    return None
  return ConvEncoder(ngf=int(m.get("ngf_E", 0) or 0) or m.ngf, crop_size=config.data.crop_size, z_dim=m.z_dim,
                     norm_E=m.norm_E, logvar_init=float(m.get("logvar_init", 0.0) or 0.0), axis_name=axis_name,
                     w_init=_init(config), dtype=compute_dtype(config))
