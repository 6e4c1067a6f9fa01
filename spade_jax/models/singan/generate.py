"""Sampling from a trained pyramid (official `manipulate.SinGAN_generate`) as one pure function.

Scales run coarse to fine from the running index `n`; all samples of a scale form one batch (the
generators are in eval mode, so samples do not interact). At scale k the noise is
`round((h_k) * scale_v) x round((w_k) * scale_h)` (Python's half-to-even `round`), one channel repeated
to 3 at running index 0 and `nc_z` channels above, zero-padded by 5. The first scale's image input is
`pad(in_s)`; later ones take `imresize(previous, 1 / scale_factor)`, cropped to
`round(scale_v * H_k) x round(scale_h * W_k)`, padded by 5, cropped to the noise size and resized
bilinearly (`align_corners=True`) to it (the identity when sizes agree). In SR mode the previous output
is upsampled and padded only. Below `gen_start_scale` the stored reconstruction noise `Zs[k]` replaces
the draw. Output: `G_k(noise_amp_k * z + I_prev, I_prev)`.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.models.singan.config import Layout
from spade_jax.models.singan.imresize import imresize
from spade_jax.models.singan.networks import Generator, pad


@functools.lru_cache(maxsize=256)
def _bilinear_matrix(in_len: int, out_len: int) -> np.ndarray:
  """`F.interpolate(mode='bilinear', align_corners=True)` along one axis."""
  m = np.zeros((out_len, in_len), np.float64)
  if out_len == 1 or in_len == 1:
    m[:, 0] = 1.0
    return m
  pos = np.arange(out_len) * (in_len - 1) / (out_len - 1)
  lo = np.minimum(np.floor(pos).astype(int), in_len - 1)
  hi = np.minimum(lo + 1, in_len - 1)
  frac = pos - lo
  m[np.arange(out_len), lo] += 1 - frac
  m[np.arange(out_len), hi] += frac
  return m


def bilinear(x: jax.Array, h: int, w: int) -> jax.Array:
  """Bilinear resize with `align_corners=True` of NHWC `x` to h x w (identity when equal)."""
  if x.shape[1:3] == (h, w):
    return x
  mh = jnp.asarray(_bilinear_matrix(x.shape[1], h), jnp.float32)
  mw = jnp.asarray(_bilinear_matrix(x.shape[2], w), jnp.float32)
  hp = jax.lax.Precision.HIGHEST
  y = jnp.einsum("oh,bhwc->bowc", mh, x, precision=hp)
  return jnp.einsum("pw,bowc->bopc", mw, y, precision=hp)


def noise_shapes(layout: Layout, n: int, num_samples: int, scale_v: float = 1, scale_h: float = 1,
                 shapes: Optional[Sequence[tuple]] = None) -> list:
  """Unpadded noise shapes (S, h, w, c) of the scales n.. of one `generate` call."""
  shapes = layout.shapes if shapes is None else shapes
  out = []
  for k in range(n, len(shapes)):
    h, w = shapes[k]
    c = 1 if k == 0 else layout.nc_z
    out.append((num_samples, round(h * scale_v), round(w * scale_h), c))
  return out


def sample_noise(key: jax.Array, shapes: Sequence[tuple]) -> list:
  keys = jax.random.split(key, len(shapes))
  return [jax.random.normal(k, s, jnp.float32) for k, s in zip(keys, shapes)]


def generate(layout: Layout, Gs: Sequence[dict], Zs: Sequence[jax.Array], amps: Sequence, noises: Sequence[jax.Array],
             in_s: Optional[jax.Array] = None, n: int = 0, scale_v: float = 1, scale_h: float = 1,
             gen_start_scale: int = 0, sr: bool = False, shapes: Optional[Sequence[tuple]] = None,
             widths: Optional[Sequence[tuple]] = None, scale_factor: Optional[float] = None,
             nc_im: int = 3, trace: bool = False):
  """Samples of scales n..: `Gs`, `Zs`, `amps` are those of scales n.. (as the official slices them);
  `noises` has one (S, h, w, c) array per scale (`noise_shapes`). `shapes`, `widths` (of the nets in
  `Gs`) and `scale_factor` override the layout's (SR repeats the finest net at upsampled sizes).
  Returns the finest outputs (S, H, W, 3); with `trace`, also [(z_in, I_prev, out)] per scale."""
  shapes = layout.shapes if shapes is None else shapes
  widths = layout.widths[n:] if widths is None else widths
  sf = layout.scale_factor if scale_factor is None else scale_factor
  num = noises[0].shape[0]
  if in_s is None:  # zeros at the first scale's noise size (`generate_in2coarsest` from scale 0)
    in_s = jnp.zeros((1,) + tuple(noises[0].shape[1:3]) + (3,), jnp.float32)
  if gen_start_scale > n and (scale_v != 1 or scale_h != 1):
    raise ValueError(f"gen_start_scale={gen_start_scale}: other output sizes (scale_v={scale_v}, "
                     f"scale_h={scale_h}) need gen_start_scale 0 (the stored noise has the training size)")
  in_s = jnp.broadcast_to(in_s, (num,) + in_s.shape[1:])
  record, prev = [], None
  for idx, (G, Z, amp, z) in enumerate(zip(Gs, Zs, amps, noises)):
    k = n + idx
    net = Generator(*widths[idx], nc_im=nc_im, num_layer=layout.num_layer)
    if z.shape[-1] == 1:
      z = jnp.broadcast_to(z, z.shape[:3] + (3,))
    z = pad(z)
    if prev is None:
      i_prev = pad(in_s)
    else:
      up = imresize(prev, 1 / sf)
      if sr:
        i_prev = pad(up)
      else:
        h, w = shapes[k]
        up = up[:, :round(scale_v * h), :round(scale_h * w)]
        i_prev = pad(up)[:, :z.shape[1], :z.shape[2]]
        i_prev = bilinear(i_prev, z.shape[1], z.shape[2])
    if k < gen_start_scale:
      z = jnp.broadcast_to(Z, (num,) + Z.shape[1:])
    z_in = amp * z + i_prev
    out = net.apply(G, z_in, i_prev, train=False)
    if trace:
      record.append((z_in, i_prev, out))
    prev = out
  return (prev, record) if trace else prev


def check_start_scale(start: int, num_scales: int, what: str = "--start-scale") -> None:
  """Injection scales are 1..N (N = the finest scale index)."""
  if not 1 <= start <= num_scales - 1:
    raise ValueError(f"{what}={start} is outside the valid range 1..{num_scales - 1} of this "
                     f"{num_scales}-scale pyramid (1 = just above the coarsest scale, {num_scales - 1} = the finest)")

