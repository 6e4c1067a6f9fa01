"""One scale's D and G steps as pure functions (official `training.train_single_scale`).

D step: `fake = G(noise, prev)` (train mode), `errD_real = -mean(D(real))`, `errD_fake = mean(D(fake))`,
the WGAN-GP penalty `lambda_grad * mean_pixels((||dD/dx||_2 over channels - 1)^2)` at
`x = a * real + (1 - a) * fake` with one scalar `a ~ U(0, 1)` per image, one Adam step of D on the sum.
D's BatchNorm running statistics are updated by the real, fake and interpolate forwards, in that order.

G step: `errG = -mean(D(fake))` with the fake of the last D step, plus
`rec_loss = alpha * MSE(G(noise_amp * z_opt + z_prev, z_prev), real)`, one Adam step of G.
  * `official_grad=True`: errG back-propagates through the recorded forward of that fake with the
    current weights (what torch 1.4 ran at G steps 2..Gsteps; identical to the plain gradient at the
    first G step). No extra G forward happens.
  * `official_grad=False`: the fake is regenerated from the same inputs with the current weights at
    every G step (a real forward: it updates G's running statistics).

Variables are `{"params", "batch_stats"}` per net; images NHWC; the inputs of G are padded by 5.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from spade_jax.models.singan import adam
from spade_jax.models.singan.networks import recorded


class DOut(NamedTuple):
  D: dict
  opt_D: dict
  G: dict  # batch statistics updated by the fake's forward
  fake: jax.Array
  record: list  # the fake forward's conv outputs (the graph G steps replay)
  losses: dict
  grads: dict


class GOut(NamedTuple):
  G: dict
  opt_G: dict
  D: dict  # batch statistics updated by D(fake)
  rec: Optional[jax.Array]
  losses: dict
  grads: dict


def _safe_norm(g: jax.Array, axis: int) -> jax.Array:
  sq = jnp.sum(g * g, axis=axis)
  ok = sq > 0
  return jnp.where(ok, jnp.sqrt(jnp.where(ok, sq, 1.0)), 0.0)


def generate(netG, G: dict, z_in, prev, train: bool):
  """One generator call; (out, new batch_stats, record) in train mode, out in eval mode."""
  if not train:
    return netG.apply(G, z_in, prev, train=False)
  out, mut = netG.apply(G, z_in, prev, train=True, mutable=["batch_stats", "intermediates"])
  return out, mut["batch_stats"], recorded(mut["intermediates"])


def d_step(netG, netD, hp, G: dict, D: dict, opt_D: dict, real, noise_in, prev, gp_alpha, lr) -> DOut:
  fake, g_stats, record = generate(netG, G, noise_in, prev, train=True)
  fake_sg = jax.lax.stop_gradient(fake)

  def loss_fn(p):
    out_r, s = netD.apply({"params": p, "batch_stats": D["batch_stats"]}, real, train=True,
                          mutable=["batch_stats"])
    err_real = -jnp.mean(out_r)
    out_f, s = netD.apply({"params": p, **s}, fake_sg, train=True, mutable=["batch_stats"])
    err_fake = jnp.mean(out_f)
    interp = gp_alpha * real + (1 - gp_alpha) * fake_sg

    def d_sum(x):
      out, s2 = netD.apply({"params": p, **s}, x, train=True, mutable=["batch_stats"])
      return jnp.sum(out), s2

    g, s = jax.grad(d_sum, has_aux=True)(interp)
    gp = jnp.mean(jnp.square(_safe_norm(g, axis=-1) - 1)) * hp.lambda_grad
    return err_real + err_fake + gp, (s["batch_stats"], err_real, err_fake, gp)

  (err_d, (d_stats, err_real, err_fake, gp)), grads = jax.value_and_grad(loss_fn, has_aux=True)(D["params"])
  params, opt_D = adam.step(D["params"], grads, opt_D, lr, hp.beta1, hp.beta2, hp.eps)
  losses = {"errD_real": err_real, "errD_fake": err_fake, "gradient_penalty": gp, "errD": err_d}
  return DOut({"params": params, "batch_stats": d_stats}, opt_D, {"params": G["params"], "batch_stats": g_stats},
              fake, record, losses, grads)


def g_step(netG, netD, hp, G: dict, D: dict, opt_G: dict, real, fake_in, fake_prev, record, rec_in, z_prev,
           lr) -> GOut:
  """`fake_in`, `fake_prev`: the last D step's G inputs; `record`: that forward's conv outputs."""

  def loss_fn(p):
    stats = G["batch_stats"]
    if hp.official_grad:
      fake = netG.apply({"params": p, "batch_stats": stats}, fake_in, fake_prev, train=True,
                        replay=record, mutable=["batch_stats"])[0]
    else:
      fake, m = netG.apply({"params": p, "batch_stats": stats}, fake_in, fake_prev, train=True,
                           mutable=["batch_stats"])
      stats = m["batch_stats"]
    out, d_mut = netD.apply(D, fake, train=True, mutable=["batch_stats"])
    err_g = -jnp.mean(out)
    if hp.alpha != 0:
      rec, m = netG.apply({"params": p, "batch_stats": stats}, rec_in, z_prev, train=True,
                          mutable=["batch_stats"])
      stats = m["batch_stats"]
      rec_loss = hp.alpha * jnp.mean(jnp.square(rec - real))
    else:
      rec, rec_loss = None, jnp.zeros((), jnp.float32)
    return err_g + rec_loss, (stats, d_mut["batch_stats"], err_g, rec_loss, rec)

  (_, (g_stats, d_stats, err_g, rec_loss, rec)), grads = jax.value_and_grad(loss_fn, has_aux=True)(G["params"])
  params, opt_G = adam.step(G["params"], grads, opt_G, lr, hp.beta1, hp.beta2, hp.eps)
  return GOut({"params": params, "batch_stats": g_stats}, opt_G, {"params": D["params"], "batch_stats": d_stats},
              rec, {"errG": err_g, "rec_loss": rec_loss}, grads)
