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

from typing import Any, Callable, Optional

import flax
import jax
import jax.numpy as jnp
import optax

from spade_jax import losses
from spade_jax.models.spade import SPADEModel


@flax.struct.dataclass
class TrainState:
  """Everything a training run carries, as one pytree."""

  step: jax.Array
  variables: dict  # {"G": {params, batch_stats}, "D": {...}, ["E": {...}]}
  g_opt_state: Any
  d_opt_state: Any
  rng: jax.Array


def learning_rates(config) -> tuple[float, float]:
  """(G lr, D lr): TTUR lr/2 and 2·lr unless `no_TTUR`."""
  t = config.train
  return (t.lr, t.lr) if t.no_TTUR else (t.lr / 2, t.lr * 2)


def _schedule(lr: float, config) -> optax.Schedule:
  """Constant, then linear decay to 0 over the last `train.niter_decay_steps` steps (official shape)."""
  decay = int(config.train.get("niter_decay_steps", 0) or 0)
  if decay <= 0:
    return optax.constant_schedule(lr)
  hold = max(int(config.total_steps) - decay, 0)
  return optax.join_schedules([optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, decay)], [hold])


def make_optimizers(config) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """Adam for G(+E) and for D with the official betas, eps 1e-8, no weight decay."""
  g_lr, d_lr = learning_rates(config)
  t = config.train
  make = lambda lr: optax.adam(_schedule(lr, config), b1=t.beta1, b2=t.beta2, eps=1e-8)
  return make(g_lr), make(d_lr)


def g_trainable(variables: dict) -> dict:
  return {k: variables[k]["params"] for k in ("G", "E") if k in variables}


def create_train_state(model: SPADEModel, rng: jax.Array) -> TrainState:
  init_rng, state_rng = jax.random.split(rng)
  variables = model.init(init_rng)
  g_tx, d_tx = make_optimizers(model.config)
  return TrainState(step=jnp.zeros((), jnp.int32), variables=variables,
                    g_opt_state=g_tx.init(g_trainable(variables)),
                    d_opt_state=d_tx.init(variables["D"]["params"]), rng=state_rng)


def _with(variables: dict, params: Optional[dict] = None, stats: Optional[dict] = None) -> dict:
  """Copy of `variables` with some nets' params / batch_stats replaced."""
  out = {k: dict(v) for k, v in variables.items()}
  for k, p in (params or {}).items():
    out[k]["params"] = p
  for k, s in (stats or {}).items():
    out[k]["batch_stats"] = s
  return out


def _pmean(tree, axis_name):
  return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def _draw_eps(model: SPADEModel, rng, batch_size: int, axis_name: Optional[str]):
  """VAE noise for this device's rows of the global batch (same values as a 1-device run)."""
  z_dim = model.config.model.z_dim
  if axis_name is None:
    return jax.random.normal(rng, (batch_size, z_dim), jnp.float32)
  n = jax.lax.psum(1, axis_name)
  full = jax.random.normal(rng, (batch_size * n, z_dim), jnp.float32)
  return jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(axis_name) * batch_size, batch_size)


def g_step(model: SPADEModel, state: TrainState, batch: dict, *,
           vgg_fn: Optional[Callable[[jax.Array], list]] = None, eps: Optional[jax.Array] = None,
           axis_name: Optional[str] = None) -> tuple[TrainState, dict, dict]:
  """Generator (+ encoder) update. Returns (state, metrics, aux).

  aux holds the fake image, the D outputs and the (averaged) gradients, for tests and diagnostics;
  a jitted caller that drops them lets XLA skip their materialisation."""
  cfg = model.config
  t = cfg.train
  seg = model.semantics(batch)
  real = batch["image"]
  rng = jax.random.fold_in(state.rng, state.step)
  if cfg.model.use_vae and eps is None:
    eps = _draw_eps(model, jax.random.fold_in(rng, 0), real.shape[0], axis_name)
  # Official KLD is a sum over the (per-device) batch: scale so that the pmean over devices gives the
  # sum over the global batch, identical to a single-device run of the same global batch.
  kld_scale = 1.0 if axis_name is None else jax.lax.psum(1, axis_name)

  def loss_fn(g_params):
    variables = _with(state.variables, params=g_params)
    fake, new_stats, extras = model.generate(variables, seg, image=real, eps=eps, train=True)
    pred_fake, pred_real, d_stats = model.discriminate(variables["D"], seg, fake, real, train=True)
    terms = {"GAN": losses.gan_loss(pred_fake, t.gan_mode, True, for_discriminator=False)}
    if not cfg.model.get("no_ganFeat_loss", False):
      terms["GAN_Feat"] = losses.feature_matching_loss(pred_fake, pred_real, t.lambda_feat)
    if not t.no_vgg_loss:
      if vgg_fn is None:
        raise ValueError("train.no_vgg_loss is False but no VGG feature function was given")
      terms["VGG"] = losses.vgg_loss(vgg_fn, fake, real) * t.lambda_vgg
    if cfg.model.use_vae:
      terms["KLD"] = losses.kld_loss(extras["mu"], extras["logvar"]) * t.lambda_kld * kld_scale
    total = sum(terms.values())
    new_stats["D"] = d_stats
    return total, (terms, new_stats, fake, (pred_fake, pred_real))

  g_params = g_trainable(state.variables)
  grads, (terms, new_stats, fake, d_outs) = jax.grad(loss_fn, has_aux=True)(g_params)
  grads = _pmean(grads, axis_name)
  g_tx, _ = make_optimizers(cfg)
  updates, g_opt_state = g_tx.update(grads, state.g_opt_state, g_params)
  g_params = optax.apply_updates(g_params, updates)
  variables = _with(state.variables, params=g_params, stats=new_stats)
  if "KLD" in terms:
    terms["KLD"] = terms["KLD"] / kld_scale
  metrics = _pmean(terms, axis_name)
  state = state.replace(variables=variables, g_opt_state=g_opt_state)
  return state, metrics, {"fake": fake, "d_outputs": d_outs, "grads": grads}


def d_step(model: SPADEModel, state: TrainState, batch: dict, *, eps: Optional[jax.Array] = None,
           axis_name: Optional[str] = None) -> tuple[TrainState, dict, dict]:
  """Discriminator update on a fake regenerated by the current G. Returns (state, metrics, aux)."""
  cfg = model.config
  t = cfg.train
  seg = model.semantics(batch)
  real = batch["image"]
  rng = jax.random.fold_in(state.rng, state.step)
  if cfg.model.use_vae and eps is None:
    eps = _draw_eps(model, jax.random.fold_in(rng, 1), real.shape[0], axis_name)
  fake, new_stats, _ = model.generate(state.variables, seg, image=real, eps=eps, train=True)
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
  updates, d_opt_state = d_tx.update(grads, state.d_opt_state, d_params)
  d_params = optax.apply_updates(d_params, updates)
  new_stats["D"] = d_stats
  variables = _with(state.variables, params={"D": d_params}, stats=new_stats)
  state = state.replace(variables=variables, d_opt_state=d_opt_state)
  return state, _pmean(terms, axis_name), {"fake": fake, "d_outputs": d_outs, "grads": grads}


def train_step(model: SPADEModel, state: TrainState, batch: dict, *,
               vgg_fn: Optional[Callable[[jax.Array], list]] = None,
               axis_name: Optional[str] = None) -> tuple[TrainState, dict]:
  """One official iteration (G step, then D step); the step counter advances by one."""
  state, g_metrics, _ = g_step(model, state, batch, vgg_fn=vgg_fn, axis_name=axis_name)
  state, d_metrics, _ = d_step(model, state, batch, axis_name=axis_name)
  return state.replace(step=state.step + 1), {**g_metrics, **d_metrics}
