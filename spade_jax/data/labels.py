"""Label maps → network input: one-hot (+ don't-care channel) + instance-edge channel (NVlabs/SPADE `models/pix2pix_model.py`: `preprocess_input`; NVlabs/SPADE `models/pix2pix_model.py`: `get_edges`).

Runs inside jit (jnp) on `[B, H, W]` integer maps; layout of the result is NHWC:
channels `0..label_nc-1` = classes, `label_nc` = don't-care (only with `contain_dontcare_label`), and
the instance-edge map as the last channel unless `no_instance`.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp


def semantic_nc(label_nc: int, contain_dontcare_label: bool, no_instance: bool) -> int:
  """Official `semantic_nc`: label_nc + don't-care channel + instance-edge channel."""
  return label_nc + int(bool(contain_dontcare_label)) + int(not no_instance)


def instance_edges(instance: jax.Array) -> jax.Array:
  """Official edge rule: 4-neighbours with different ids mark *both* pixels; borders are not edges.

  instance: `[B, H, W]` integer ids → float32 `[B, H, W]` of 0/1.
  """
  t = instance
  dx = t[:, :, 1:] != t[:, :, :-1]
  dy = t[:, 1:, :] != t[:, :-1, :]
  e = jnp.zeros(t.shape, jnp.bool_)
  e = e.at[:, :, 1:].set(e[:, :, 1:] | dx)
  e = e.at[:, :, :-1].set(e[:, :, :-1] | dx)
  e = e.at[:, 1:, :].set(e[:, 1:, :] | dy)
  e = e.at[:, :-1, :].set(e[:, :-1, :] | dy)
  return e.astype(jnp.float32)


def to_semantics(label: jax.Array, instance: Optional[jax.Array], *, label_nc: int,
                 contain_dontcare_label: bool, no_instance: bool, dtype=jnp.float32) -> jax.Array:
  """`[B, H, W]` ids (don't-care already mapped to `label_nc`) → `[B, H, W, semantic_nc]` input.

  Ids outside the one-hot range give an all-zero pixel here (validation happens at the data boundary).
  """
  nc = label_nc + int(bool(contain_dontcare_label))
  sem = jax.nn.one_hot(label, nc, dtype=dtype)
  if not no_instance:
    if instance is None:
      raise ValueError("no_instance=False needs an instance map (set data.no_instance=True if the "
                       "dataset has none)")
    sem = jnp.concatenate([sem, instance_edges(instance)[..., None].astype(dtype)], axis=-1)
  return sem


def onehot_ids(classes: jax.Array) -> jax.Array:
  """`[B, H, W, K]` one-hot class channels → `[B, H, W]` int32 ids, `K` where a pixel is all zero.

  The inverse of `jax.nn.one_hot(ids, K)` on its image (exact for one-hot or all-zero pixels; other
  inputs are not label maps). SPADE layers given these ids as `cond["label_ids"]` compute their
  convolution of the one-hot map as a lookup (`spade_jax.nn.convolution.onehot_conv2d`).
  """
  k = classes.shape[-1]
  return jnp.where(jnp.any(classes > 0, axis=-1), jnp.argmax(classes, axis=-1), k).astype(jnp.int32)
