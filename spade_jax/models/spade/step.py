"""The official SPADE training iteration as pure functions: generator step, then discriminator step.

G step: (E →) G → D on `[fake; real]` → hinge GAN + feature matching + VGG (+ KL) → Adam on G (+E).
D step: G again with the *updated* weights (no gradient, training mode, a fresh VAE draw) → D on the
detached fake and the real → D_Fake + D_real → Adam on D.
As officially, every network stays in training mode, so one iteration advances G's BN statistics and
spectral-norm vectors twice and D's twice.

Both functions work unchanged under `jax.jit` (global batch, sharded or not) and under `jax.pmap` /
`shard_map` with `axis_name` (gradients and metrics are averaged over it, BN statistics are global).
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax

from spade_jax.gan import ema as ema_lib
from spade_jax.gan import losses
from spade_jax.gan import state as gan_state
from spade_jax.gan.state import GANState, group_params, pmean as _pmean, with_variables as _with
from spade_jax.models.spade.model import SPADEModel

# Optimiser groups: Adam on G and the VAE encoder together, Adam on D.
G_NETS, D_NETS = ("G", "E"), ("D",)
SAMPLING_NETS = G_NETS  # what the EMA copy and the sampling variables hold


def learning_rates(config) -> tuple[float, float]:
  """(G lr, D lr): TTUR lr/2 and 2·lr unless `no_TTUR`."""
  t = config.train
  return (t.lr, t.lr) if t.no_TTUR else (t.lr / 2, t.lr * 2)


def schedules(config) -> tuple[optax.Schedule, optax.Schedule]:
  """Constant, then linear decay to 0 over the last `train.niter_decay_steps` steps (official shape:
  `niter` epochs at the full rate, `niter_decay` epochs decaying linearly, counted in steps)."""
  decay = int(config.train.get("niter_decay_steps", 0) or 0)
  return tuple(gan_state.linear_decay(lr, config.total_steps, decay) for lr in learning_rates(config))


def encoder_lr_mult(config) -> float:
  """`train.lr_E_mult` (not official; 1 = E at G's learning rate, as officially)."""
  return float(config.train.get("lr_E_mult", 1.0))


def make_optimizers(config) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """Adam for G(+E) and for D with the official betas, eps 1e-8, no weight decay. With
  `train.lr_E_mult` ≠ 1 the encoder's Adam steps are scaled by it (its learning rate × the factor)."""
  t = config.train
  g_tx, d_tx = (optax.adam(s, b1=t.beta1, b2=t.beta2, eps=1e-8) for s in schedules(config))
  mult = encoder_lr_mult(config)
  if mult != 1.0:
    g_tx = optax.chain(g_tx, optax.masked(optax.scale(mult), lambda p: {k: k == "E" for k in p}))
  return g_tx, d_tx


def kld_weight(config, step) -> jax.Array:
  """`train.lambda_kld`, ramped linearly from 0 over the first `train.kld_warmup_steps` steps (0 = the
  official constant weight)."""
  t = config.train
  warm = int(t.get("kld_warmup_steps", 0) or 0)
  if warm <= 0:
    return jnp.float32(t.lambda_kld)
  return t.lambda_kld * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / warm)


def kld_term(config, mu: jax.Array, logvar: jax.Array, step) -> jax.Array:
  """The weighted KL term of the G step: the official sum over batch and z (`losses.kld_loss`) times
  `kld_weight`. With `train.kld_free_bits` = λ > 0 (nats per z dimension, Kingma et al. 2016 "free
  bits"), each dimension's KL averaged over the batch counts at least λ — below it the encoder is
  not pushed towards the prior — then × the batch size (the same scale as the official sum)."""
  free = float(config.train.get("kld_free_bits", 0.0) or 0.0)
  if free > 0:
    per_dim = 0.5 * jnp.mean(jnp.square(mu) + jnp.exp(logvar) - 1.0 - logvar, axis=0)
    kl = jnp.sum(jnp.maximum(per_dim, free)) * mu.shape[0]
  else:
    kl = losses.kld_loss(mu, logvar)
  return kl * kld_weight(config, step)


def g_trainable(variables: dict) -> dict:
  return group_params(variables, G_NETS)


def ema_decay(config) -> float:
  return float(config.train.get("ema_decay", 0.0) or 0.0)


def new_state(config, variables: dict, rng: jax.Array) -> GANState:
  """The training state around given variables: Adam states, the EMA copy (if configured)."""
  g_tx, d_tx = make_optimizers(config)
  return gan_state.create(variables, {"G": (g_tx, G_NETS), "D": (d_tx, D_NETS)}, rng,
                          ema_nets=SAMPLING_NETS if ema_decay(config) > 0 else ())


def create_train_state(model: SPADEModel, rng: jax.Array) -> GANState:
  """Fresh state: official initialisation (drawn with the fast init PRNG), Adam states, EMA copy."""
  variables, state_rng = gan_state.init_with_fast_prng(model.init, rng)
  return new_state(model.config, variables, state_rng)


def draw_eps(model: SPADEModel, rng, batch_size: int, axis_name: Optional[str]):
  """VAE noise for this device's rows of the global batch (same values as a 1-device run)."""
  z_dim = model.config.model.z_dim
  if axis_name is None:
    return jax.random.normal(rng, (batch_size, z_dim), jnp.float32)
  n = jax.lax.psum(1, axis_name)
  full = jax.random.normal(rng, (batch_size * n, z_dim), jnp.float32)
  return jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(axis_name) * batch_size, batch_size)


def noise_rng(rng, salt: int, axis_name: Optional[str]):
  """RNG of G's noise injection (SEAN): a different stream per device under `axis_name` (so the
  per-pixel noise is not repeated across devices); unused, and compiled away, for other variants."""
  rng = jax.random.fold_in(rng, salt)
  return rng if axis_name is None else jax.random.fold_in(rng, jax.lax.axis_index(axis_name))


def g_step(model: SPADEModel, state: GANState, batch: dict, *,
           vgg_fn: Optional[Callable[[jax.Array], list]] = None, eps: Optional[jax.Array] = None,
           axis_name: Optional[str] = None) -> tuple[GANState, dict, dict]:
  """Generator (+ encoder) update. Returns (state, metrics, aux).

  aux holds the fake image, the D outputs and the (averaged) gradients, for tests and diagnostics;
  a jitted caller that drops them lets XLA skip their materialisation."""
  cfg = model.config
  t = cfg.train
  seg = model.semantics(batch)
  real = batch["image"]
  rng = jax.random.fold_in(state.rng, state.step)
  if cfg.model.use_vae and eps is None:
    eps = draw_eps(model, jax.random.fold_in(rng, 0), real.shape[0], axis_name)
  # Official KLD is a sum over the (per-device) batch: scale so that the pmean over devices gives the
  # sum over the global batch, identical to a single-device run of the same global batch.
  kld_scale = 1.0 if axis_name is None else jax.lax.psum(1, axis_name)

  def loss_fn(g_params):
    variables = _with(state.variables, params=g_params)
    fake, new_stats, extras = model.generate(variables, seg, image=real, eps=eps, train=True,
                                             rng=noise_rng(rng, 2, axis_name))
    pred_fake, pred_real, d_stats = model.discriminate(variables["D"], seg, fake, real, train=True)
    terms = {"GAN": losses.gan_loss(pred_fake, t.gan_mode, True, for_discriminator=False)}
    if not cfg.model.get("no_ganFeat_loss", False):
      terms["GAN_Feat"] = losses.feature_matching_loss(pred_fake, pred_real, t.lambda_feat)
    if not t.no_vgg_loss:
      if vgg_fn is None:
        raise ValueError("train.no_vgg_loss is False but no VGG feature function was given")
      terms["VGG"] = losses.vgg_loss(vgg_fn, fake, real) * t.lambda_vgg
    if t.get("lambda_l1", 0.0):
      terms["L1"] = losses.l1_loss(fake, real, t.lambda_l1)
    if cfg.model.use_vae:
      terms["KLD"] = kld_term(cfg, extras["mu"], extras["logvar"], state.step) * kld_scale
    total = sum(terms.values())
    new_stats["D"] = d_stats
    return total, (terms, new_stats, fake, (pred_fake, pred_real))

  g_params = g_trainable(state.variables)
  grads, (terms, new_stats, fake, d_outs) = jax.grad(loss_fn, has_aux=True)(g_params)
  grads = _pmean(grads, axis_name)
  g_tx, _ = make_optimizers(cfg)
  state = gan_state.apply_gradients(state, "G", g_tx, G_NETS, grads, stats=new_stats)
  metrics = _pmean(terms, axis_name)  # KLD: the mean of (device sum × devices) = the global sum
  return state, metrics, {"fake": fake, "d_outputs": d_outs, "grads": grads}


def d_step(model: SPADEModel, state: GANState, batch: dict, *, eps: Optional[jax.Array] = None,
           axis_name: Optional[str] = None) -> tuple[GANState, dict, dict]:
  """Discriminator update on a fake regenerated by the current G. Returns (state, metrics, aux)."""
  cfg = model.config
  t = cfg.train
  seg = model.semantics(batch)
  real = batch["image"]
  rng = jax.random.fold_in(state.rng, state.step)
  if cfg.model.use_vae and eps is None:
    eps = draw_eps(model, jax.random.fold_in(rng, 1), real.shape[0], axis_name)
  fake, new_stats, _ = model.generate(state.variables, seg, image=real, eps=eps, train=True,
                                      rng=noise_rng(rng, 3, axis_name))
  fake = jax.lax.stop_gradient(fake)

  def loss_fn(d_params):
    d_vars = {"params": d_params, "batch_stats": state.variables["D"]["batch_stats"]}
    pred_fake, pred_real, d_stats = model.discriminate(d_vars, seg, fake, real, train=True)
    terms = {"D_Fake": losses.gan_loss(pred_fake, t.gan_mode, False, for_discriminator=True),
             "D_real": losses.gan_loss(pred_real, t.gan_mode, True, for_discriminator=True)}
    return terms["D_Fake"] + terms["D_real"], (terms, d_stats, (pred_fake, pred_real))

  d_params = state.variables["D"]["params"]
  grads, (terms, d_stats, d_outs) = jax.grad(loss_fn, has_aux=True)(d_params)
  grads = _pmean(grads, axis_name)
  _, d_tx = make_optimizers(cfg)
  new_stats["D"] = d_stats
  state = gan_state.apply_gradients(state, "D", d_tx, D_NETS, {"D": grads}, stats=new_stats)
  return state, _pmean(terms, axis_name), {"fake": fake, "d_outputs": d_outs, "grads": grads}


def train_step(model: SPADEModel, state: GANState, batch: dict, *,
               vgg_fn: Optional[Callable[[jax.Array], list]] = None,
               axis_name: Optional[str] = None) -> tuple[GANState, dict]:
  """One official iteration (G step, then D step), then the EMA update of the generator (when the
  state carries one); the step counter advances by one."""
  state, g_metrics, _ = g_step(model, state, batch, vgg_fn=vgg_fn, axis_name=axis_name)
  state, d_metrics, _ = d_step(model, state, batch, axis_name=axis_name)
  if state.ema is not None:
    state = state.replace(ema=ema_lib.update(state.ema, g_trainable(state.variables), state.step,
                                             ema_decay(model.config)))
  return state.replace(step=state.step + 1), {**g_metrics, **d_metrics}
