"""SPADE generator (NVlabs/SPADE `models/networks/generator.py`: `SPADEGenerator`)."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.nn.blocks import SPADEResBlock, lrelu
from spade_jax.nn.modulation import Cond, generator_hooks
from spade_jax.nn.norms import Conv, Dense, kernel_init, nearest_resize, upsample2x

NUM_UP = {"normal": 5, "more": 6, "most": 7}


def latent_size(crop_size: int, aspect_ratio: float, num_upsampling_layers: str) -> tuple[int, int]:
  """(sh, sw): the stem's spatial size. sw = crop // 2^num_up, sh = round(sw / aspect_ratio)."""
  if num_upsampling_layers not in NUM_UP:
    raise ValueError(f"num_upsampling_layers={num_upsampling_layers!r}: expected normal, more or most")
  sw = crop_size // (2 ** NUM_UP[num_upsampling_layers])
  sh = round(sw / aspect_ratio)
  if sw < 1 or sh < 1:
    raise ValueError(f"crop_size={crop_size} with aspect_ratio={aspect_ratio} and "
                     f"num_upsampling_layers={num_upsampling_layers!r} gives a {sh}x{sw} latent; "
                     f"crop_size must be at least {2 ** NUM_UP[num_upsampling_layers]}, times the "
                     "aspect ratio when it is above 1")
  return sh, sw


class SPADEGenerator(nn.Module):
  """Label map (+ optional z) → image in [-1, 1], NHWC.

  Input stem: with `use_vae`, `fc` is a Linear z → 16·ngf·sh·sw (reshaped in the official (C, H, W)
  order); otherwise the segmap is resized (nearest) to (sh, sw) and `fc` is a 3×3 conv.
  If `use_vae` and no z is given, z ~ N(0, I) is drawn from the `noise` RNG stream.

  Modulation variants may ask for a preparation step run once on `cond` before the stem (SEAN's style
  encoder, CLADE-ICPE's distance map) and, for the baselines without modulation, for the label map at the
  input (concatenated to the z feature map with a VAE stem; the segmap stem already is the label map).
  """

  modulation: Callable[..., nn.Module]
  ngf: int = 64
  crop_size: int = 256
  aspect_ratio: float = 1.0
  num_upsampling_layers: str = "normal"
  use_vae: bool = False
  z_dim: int = 256
  output_nc: int = 3
  spectral: bool = True
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @nn.compact
  def __call__(self, cond: Cond, z: Optional[jax.Array] = None, train: bool = False) -> jax.Array:
    prepare, label_at_input = generator_hooks(self.modulation)
    if prepare is not None:
      cond = prepare()(cond, train)
    seg = cond["segmap"]
    dtype = self.dtype or jnp.float32
    nf = self.ngf
    sh, sw = latent_size(self.crop_size, self.aspect_ratio, self.num_upsampling_layers)
    if self.use_vae:
      if z is None:
        z = jax.random.normal(self.make_rng("noise"), (seg.shape[0], self.z_dim), jnp.float32)
      x = Dense(16 * nf * sh * sw, w_init=self.w_init, dtype=dtype, name="fc")(z)
      x = x.reshape(-1, 16 * nf, sh, sw).transpose(0, 2, 3, 1)
      if label_at_input:
        x = jnp.concatenate([x, nearest_resize(seg, (sh, sw)).astype(x.dtype)], axis=-1)
    else:
      x = Conv(16 * nf, 3, w_init=self.w_init, dtype=dtype, name="fc")(nearest_resize(seg, (sh, sw)).astype(dtype))

    block = functools.partial(SPADEResBlock, modulation=self.modulation, spectral=self.spectral,
                              w_init=self.w_init, dtype=self.dtype)
    x = block(16 * nf, name="head_0")(x, cond, train)
    x = upsample2x(x)
    x = block(16 * nf, name="G_middle_0")(x, cond, train)
    if self.num_upsampling_layers in ("more", "most"):
      x = upsample2x(x)
    x = block(16 * nf, name="G_middle_1")(x, cond, train)
    for i, mult in enumerate((8, 4, 2, 1)):
      x = upsample2x(x)
      x = block(mult * nf, name=f"up_{i}")(x, cond, train)
    if self.num_upsampling_layers == "most":
      x = upsample2x(x)
      x = block(nf // 2, name="up_4")(x, cond, train)
    x = Conv(self.output_nc, 3, w_init=self.w_init, dtype=dtype, name="conv_img")(lrelu(x))
    return jnp.tanh(x.astype(jnp.float32))
