"""Passing images up the frozen coarser scales (official `training.draw_concat`).

From zeros at scale 0's size, for each trained scale i: crop to scale i's size, pad by 5, run
`G_i(noise_amp_i * z + G_z, G_z)` in eval mode, upsample by `imresize(., 1 / scale_factor)` (through
the uint8 round trip) and crop to scale i+1's size. `z` is fresh noise (`'rand'`: one channel repeated
at scale 0, `nc_z` channels above, zero-padded) or the stored reconstruction noise `Zs[i]` (`'rec'`).
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp

from spade_jax.models.singan.config import Layout
from spade_jax.models.singan.imresize import imresize
from spade_jax.models.singan.networks import Generator, pad


def generators(layout: Layout, n: int, nc_im: int = 3) -> list:
  """The Generator modules of scales 0..n-1."""
  return [Generator(*layout.widths[i], nc_im=nc_im, num_layer=layout.num_layer) for i in range(n)]


def noise_shape(layout: Layout, i: int, single: bool) -> tuple:
  h, w = layout.shapes[i]
  return (1, h, w, 1 if single else layout.nc_z)


def expand(z: jax.Array) -> jax.Array:
  """A one-channel noise map repeated to 3 channels (the official `expand(1, 3, h, w)`)."""
  return jnp.broadcast_to(z, z.shape[:3] + (3,)) if z.shape[-1] == 1 else z


def upsample(layout: Layout, x: jax.Array, i: int) -> jax.Array:
  """Scale i's output as the next scale's input: `imresize(x, 1 / scale_factor)` cropped to scale i+1."""
  h, w = layout.shapes[i + 1]
  return imresize(x, 1 / layout.scale_factor)[:, :h, :w]


def draw_concat(layout: Layout, Gs: Sequence[dict], Zs: Sequence[jax.Array], amps: Sequence,
                noises: Optional[Sequence[jax.Array]] = None) -> jax.Array:
  """The input image of scale len(Gs) (unpadded): `'rand'` with `noises` (unpadded, per scale), else `'rec'`."""
  n = len(Gs)
  h0, w0 = layout.shapes[0]
  batch = noises[0].shape[0] if noises is not None and n else 1
  g_z = jnp.zeros((batch, h0, w0, 3), jnp.float32)
  for i, (net, G) in enumerate(zip(generators(layout, n), Gs)):
    h, w = layout.shapes[i]
    g_z = pad(g_z[:, :h, :w])
    z = Zs[i] if noises is None else pad(expand(noises[i]))  # noises: (B, h_i, w_i, c) per scale
    g_z = net.apply(G, amps[i] * z + g_z, g_z, train=False)
    g_z = upsample(layout, g_z, i)
  return g_z
