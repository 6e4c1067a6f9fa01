"""CLADE and CLADE-ICPE (class-adaptive normalization, tzt101/CLADE; tzt101/CLADE `models/networks/normalization.py`).

CLADE replaces SPADE's convolutional γ/β by a per-class lookup: with `K` class channels (label_nc +
don't-care, the instance-edge channel excluded), each layer of width `C` holds `gamma [K, C]`
(init U(0, 1)) and `beta [K, C]` (init 0). A pixel's class is the argmax of the (nearest-resized) one-hot,
and the output is `norm(x) · gamma[class] + beta[class]` — no "1 +", unlike SPADE.

Instance edges (when the segmap carries them, i.e. `"instance_edge" in cond`): the edge map is resized,
passed through its own 1×1 conv (1 → 1) and *concatenated* to the modulated features, so the following
convolution sees `C + 1` channels (Flax infers the width; the official code builds conv_0/1/s with `+1`).

ICPE (`use_dist`): a 2-channel intra-class positional map `cond["dist"]` (dy, dx) — for every class id ≠ 0
and every 8-connected component of it, each pixel's offset from the component centroid divided by the
component's max |offset| (+1e-5), 0 elsewhere — modulates the lookup:
`gamma ← gamma · (1 + conv_w(dist))`, `beta ← beta · (1 + conv_b(dist))` with two 1×1 convs (2 → 1).
The map is computed inside jit from the segmap (`icpe_dist_map`) unless the caller supplies it;
`icpe_dist_map_numpy` is the official `util/cal_dist_masks.py` algorithm (scipy instead of OpenCV), used
as the reference in tests and for host-side precomputation.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.nn.norms import Conv, ParamFreeNorm, kernel_init, nearest_resize

DIST_EPS = 1e-5


def class_channels(cond: dict) -> jax.Array:
  """The one-hot (+ don't-care) part of `cond["segmap"]`: the instance-edge channel, if present, removed.

  The edge channel is present exactly when the caller put `cond["instance_edge"]` (see
  `SPADEModel.conditioning`); then it is the segmap's last channel.
  """
  seg = cond["segmap"]
  return seg[..., :-1] if "instance_edge" in cond else seg


def class_ids(cond: dict, size: Optional[tuple[int, int]] = None) -> jax.Array:
  """`[B, H, W]` int32 class index (argmax of the class channels), optionally nearest-resized first."""
  classes = class_channels(cond)
  if size is not None:
    classes = nearest_resize(classes, size)
  return jnp.argmax(classes, axis=-1).astype(jnp.int32)


# ----------------------------------------------------------------------------------------------------
# Intra-class positional encoding (ICPE)
# ----------------------------------------------------------------------------------------------------

_NEIGHBOURS_8 = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def connected_components(ids: jax.Array) -> jax.Array:
  """8-connected components of equal ids, inside jit.

  ids: `[B, H, W]` integers → `[B, H, W]` int32: every pixel holds the smallest flat index (y·W + x) of its
  component. Min-label propagation over the 8 neighbours plus pointer jumping, until nothing changes.
  """
  b, h, w = ids.shape
  n = h * w
  big = jnp.int32(n)
  ids = ids.astype(jnp.int32)
  pad_ids = jnp.pad(ids, ((0, 0), (1, 1), (1, 1)), constant_values=jnp.iinfo(jnp.int32).min)
  same = [pad_ids[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] == ids for dy, dx in _NEIGHBOURS_8]

  def propagate(lab):
    padded = jnp.pad(lab, ((0, 0), (1, 1), (1, 1)), constant_values=big)
    out = lab
    for (dy, dx), s in zip(_NEIGHBOURS_8, same):
      out = jnp.where(s, jnp.minimum(out, padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]), out)
    # Pointer jumping: lab[p] is a pixel of p's component whose own label is <= lab[p].
    flat = out.reshape(b, n)
    for _ in range(2):
      flat = jnp.take_along_axis(flat, flat, axis=1)
    return flat.reshape(b, h, w)

  def body(carry):
    lab, _ = carry
    new = propagate(lab)
    return new, jnp.any(new != lab)

  init = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32).reshape(1, h, w), (b, h, w))
  lab, _ = jax.lax.while_loop(lambda c: c[1], body, (init, jnp.bool_(True)))
  return lab


def icpe_dist_map(ids: jax.Array, skip_class: int = 0) -> jax.Array:
  """The CLADE-ICPE distance map, inside jit: `[B, H, W]` class ids → `[B, H, W, 2]` float32 (dy, dx).

  For every class ≠ `skip_class` and every 8-connected component of it: the offset of each pixel from the
  component's centroid, divided per axis by the component's max |offset| + 1e-5; 0 on `skip_class` pixels.
  """
  ids = jax.lax.stop_gradient(ids.astype(jnp.int32))
  b, h, w = ids.shape
  n = h * w
  comp = connected_components(ids) + (jnp.arange(b, dtype=jnp.int32) * n)[:, None, None]
  seg = comp.reshape(-1)
  yy = jnp.broadcast_to(jnp.arange(h, dtype=jnp.float32)[None, :, None], (b, h, w)).reshape(-1)
  xx = jnp.broadcast_to(jnp.arange(w, dtype=jnp.float32)[None, None, :], (b, h, w)).reshape(-1)
  nseg = b * n
  count = jax.ops.segment_sum(jnp.ones_like(yy), seg, nseg)
  count = jnp.maximum(count, 1.0)
  dy = yy - (jax.ops.segment_sum(yy, seg, nseg) / count)[seg]
  dx = xx - (jax.ops.segment_sum(xx, seg, nseg) / count)[seg]
  my = jax.ops.segment_max(jnp.abs(dy), seg, nseg)[seg]
  mx = jax.ops.segment_max(jnp.abs(dx), seg, nseg)[seg]
  dist = jnp.stack([dy / (my + DIST_EPS), dx / (mx + DIST_EPS)], axis=-1).reshape(b, h, w, 2)
  return jnp.where((ids != skip_class)[..., None], dist, 0.0)


def icpe_dist_map_numpy(label: np.ndarray, skip_class: int = 0) -> np.ndarray:
  """Official `cal_connectedComponents` (norm mode) on one `[H, W]` label map → `[H, W, 2]` (dy, dx).

  Same algorithm as tzt101/CLADE `util/cal_dist_masks.py` (OpenCV's default 8-connectivity), with
  scipy's labelling; float32 like the official `.npy` files.
  """
  from scipy import ndimage

  label = np.asarray(label)
  h, w = label.shape
  out = np.zeros((h, w, 2), np.float32)
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
  for cls in np.unique(label):
    if cls == skip_class:
      continue
    comps, num = ndimage.label(label == cls, structure=np.ones((3, 3), bool))
    for c in range(1, num + 1):
      m = comps == c
      oy = (yy - yy[m].mean()) * m
      ox = (xx - xx[m].mean()) * m
      out[..., 0] += (oy / np.max(np.abs(oy) + DIST_EPS)).astype(np.float32)
      out[..., 1] += (ox / np.max(np.abs(ox) + DIST_EPS)).astype(np.float32)
  return out


class ICPEDist(nn.Module):
  """Generator-level preparation for CLADE-ICPE: adds `cond["dist"]` (full input resolution) once, so
  every layer resizes the same map. A caller-supplied `cond["dist"]` is used as it is."""

  skip_class: int = 0

  @nn.compact
  def __call__(self, cond: dict, train: bool) -> dict:
    del train
    if "dist" in cond:
      return cond
    return {**cond, "dist": icpe_dist_map(class_ids(cond), self.skip_class)}


# ----------------------------------------------------------------------------------------------------
# The CLADE layer
# ----------------------------------------------------------------------------------------------------

class CLADE(nn.Module):
  """`norm(x) · γ[class] + β[class]` (+ ICPE modulation of γ/β, + concatenated instance-edge feature).

  Sows `gamma` and `beta` (`[B, H, W, C]`, before the instance-edge concatenation) into the
  `intermediates` collection when it is mutable (tests, diagnostics).
  """

  param_free: str = "syncbatch"
  use_dist: bool = False
  axis_name: Optional[str] = None
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, cond: dict, train: bool) -> jax.Array:
    normalized = ParamFreeNorm(self.param_free, axis_name=self.axis_name, name="param_free_norm")(x, train)
    dtype = self.dtype or x.dtype
    hw = x.shape[1:3]
    c = x.shape[-1]
    k = class_channels(cond).shape[-1]
    gamma_table = self.param("gamma", nn.initializers.uniform(1.0), (k, c), jnp.float32)
    beta_table = self.param("beta", nn.initializers.zeros, (k, c), jnp.float32)
    ids = class_ids(cond, hw)
    gamma = gamma_table.astype(dtype)[ids]
    beta = beta_table.astype(dtype)[ids]
    if self.use_dist:
      if "dist" not in cond:
        raise ValueError("CLADE-ICPE needs cond['dist'] (the generator adds it via ICPEDist)")
      dist = nearest_resize(cond["dist"], hw).astype(dtype)
      conv = functools.partial(Conv, 1, 1, w_init=self.w_init, dtype=dtype)
      gamma = gamma * (1 + conv(name="dist_conv_w")(dist))
      beta = beta * (1 + conv(name="dist_conv_b")(dist))
    self.sow("intermediates", "gamma", gamma)
    self.sow("intermediates", "beta", beta)
    out = normalized * gamma + beta
    if "instance_edge" in cond:
      edge = nearest_resize(cond["instance_edge"], hw).astype(dtype)
      out = jnp.concatenate([out, Conv(1, 1, w_init=self.w_init, dtype=dtype, name="inst_conv")(edge)], -1)
    return out
