"""VAE style encoder (NVlabs/SPADE `models/networks/encoder.py`: `ConvEncoder`): image → (mu, logvar); reparameterisation with an explicit key."""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.nn.blocks import lrelu
from spade_jax.nn.norms import Dense, NormLayer, kernel_init

ENCODER_SIZE = 256


class ConvEncoder(nn.Module):
  """Six (five below crop 256) stride-2 3×3 convs with `norm_E`, flatten (official C,H,W order), two FCs.

  The image is first resized to 256×256 bilinearly (align_corners=False) when it is not that size.
  Unlike the official code, a crop below 256 does not crash: the FC input width follows the flatten.
  """

  ngf: int = 64
  crop_size: int = 256
  z_dim: int = 256
  norm_E: str = "spectralinstance"
  logvar_init: float = 0.0  # added to fc_var's output: the posterior's initial log-variance (official 0)
  axis_name: Optional[str] = None
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @nn.compact
  def __call__(self, image: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
    b, h, w, c = image.shape
    x = image.astype(jnp.float32)
    if (h, w) != (ENCODER_SIZE, ENCODER_SIZE):
      x = jax.image.resize(x, (b, ENCODER_SIZE, ENCODER_SIZE, c), "bilinear", antialias=False)
    if self.dtype is not None:
      x = x.astype(self.dtype)
    nf = self.ngf
    widths = [nf, 2 * nf, 4 * nf, 8 * nf, 8 * nf] + ([8 * nf] if self.crop_size >= 256 else [])
    for i, f in enumerate(widths):
      if i:
        x = lrelu(x)
      x = NormLayer(f, self.norm_E, 3, 2, 1, axis_name=self.axis_name, w_init=self.w_init, dtype=self.dtype,
                    name=f"layer{i + 1}")(x, train)
    x = lrelu(x)
    x = x.transpose(0, 3, 1, 2).reshape(b, -1)  # official flatten order (C, H, W)
    mu = Dense(self.z_dim, w_init=self.w_init, dtype=self.dtype, name="fc_mu")(x)
    logvar = Dense(self.z_dim, w_init=self.w_init, dtype=self.dtype, name="fc_var")(x).astype(jnp.float32)
    if self.logvar_init:  # = fc_var's bias initialised at logvar_init (the same training dynamics)
      logvar = logvar + self.logvar_init
    return mu.astype(jnp.float32), logvar


def reparameterize(mu: jax.Array, logvar: jax.Array, eps: jax.Array) -> jax.Array:
  """z = mu + exp(logvar / 2) · eps, eps ~ N(0, I) drawn by the caller (explicit RNG)."""
  return mu + jnp.exp(0.5 * logvar) * eps
