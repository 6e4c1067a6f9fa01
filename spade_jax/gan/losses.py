"""SPADE losses (NVlabs/SPADE `models/networks/loss.py`: `GANLoss`; `models/pix2pix_model.py`: `compute_generator_loss`): GAN (hinge / ls / original / w), feature matching, KL, VGG."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from spade_jax.gan.vgg import TAP_WEIGHTS

GAN_MODES = ("hinge", "ls", "original", "w")


def _single_gan_loss(p: jax.Array, mode: str, target_is_real: bool, for_discriminator: bool) -> jax.Array:
  p = p.astype(jnp.float32)
  if mode == "hinge":
    if not for_discriminator:
      if not target_is_real:
        raise ValueError("the hinge generator loss must target real")
      return -jnp.mean(p)
    return jnp.mean(jax.nn.relu(1.0 - p)) if target_is_real else jnp.mean(jax.nn.relu(1.0 + p))
  if mode == "ls":
    t = 1.0 if target_is_real else 0.0
    return jnp.mean(jnp.square(p - t))
  if mode == "original":
    t = jnp.full_like(p, 1.0 if target_is_real else 0.0)
    return jnp.mean(optax.sigmoid_binary_cross_entropy(p, t))
  if mode == "w":
    return -jnp.mean(p) if target_is_real else jnp.mean(p)
  raise ValueError(f"gan_mode={mode!r}: expected one of {GAN_MODES}")


def gan_loss(outputs: Sequence, mode: str, target_is_real: bool, for_discriminator: bool,
             reduce: str = "mean") -> jax.Array:
  """Multiscale GAN loss: loss of each scale's logits (last element), averaged over scales (SPADE) or
  summed (`reduce="sum"`: pix2pixHD). `original` is BCE on the sigmoid of the logits (pix2pixHD's
  `no_lsgan`: Sigmoid + BCELoss), `ls` the mean squared error to the 1 / 0 target (pix2pixHD's LSGAN)."""
  if reduce not in ("mean", "sum"):
    raise ValueError(f"gan_loss reduce={reduce!r}: expected 'mean' or 'sum'")
  total = 0.0
  for out in outputs:
    pred = out[-1] if isinstance(out, (list, tuple)) else out
    total = total + _single_gan_loss(pred, mode, target_is_real, for_discriminator)
  return total / len(outputs) if reduce == "mean" else total


def feature_matching_loss(fake_outputs: Sequence, real_outputs: Sequence, lambda_feat: float,
                          layer_weight: float = 1.0) -> jax.Array:
  """Σ_scales Σ_intermediate L1(fake, stop_grad(real)) · lambda_feat / num_D · layer_weight
  (pix2pixHD: layer_weight = 4 / (n_layers_D + 1) in its own n_layers_D count)."""
  num_d = len(fake_outputs)
  total = 0.0
  for fake, real in zip(fake_outputs, real_outputs):
    for f, r in zip(fake[:-1], real[:-1]):
      total = total + jnp.mean(jnp.abs(f.astype(jnp.float32) - jax.lax.stop_gradient(r).astype(jnp.float32))
                               ) * (lambda_feat / num_d * layer_weight)
  return total


def l1_loss(fake: jax.Array, real: jax.Array, weight: float) -> jax.Array:
  """weight · mean |fake − stop_grad(real)| over every pixel and channel (BicycleGAN's cVAE-GAN
  reconstruction term; not in SPADE's official losses)."""
  return jnp.mean(jnp.abs(fake.astype(jnp.float32) - jax.lax.stop_gradient(real).astype(jnp.float32))) * weight


def kld_loss(mu: jax.Array, logvar: jax.Array) -> jax.Array:
  """-0.5 · Σ(1 + logvar − mu² − exp(logvar)), summed over batch and z (official: a sum, not a mean)."""
  return -0.5 * jnp.sum(1 + logvar - jnp.square(mu) - jnp.exp(logvar))


def vgg_loss(features_fn: Callable[[jax.Array], list], fake: jax.Array, real: jax.Array) -> jax.Array:
  """Σ_taps w_i · L1(vgg_i(fake), stop_grad(vgg_i(real))), w = [1/32, 1/16, 1/8, 1/4, 1]."""
  ff, fr = features_fn(fake), features_fn(real)
  total = 0.0
  for w, a, b in zip(TAP_WEIGHTS, ff, fr):
    total = total + w * jnp.mean(jnp.abs(a.astype(jnp.float32) - jax.lax.stop_gradient(b).astype(jnp.float32)))
  return total
