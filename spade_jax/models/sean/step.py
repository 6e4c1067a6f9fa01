"""The official SEAN training iteration (`trainers/pix2pix_trainer.py`, `models/pix2pix_model.py`) as
pure functions over a `GANState`: generator step, then discriminator step.

G step: G on the label map with the real photo as its style image (training is reconstruction) → D on
`[fake; real]` → hinge GAN + feature matching (+ VGG) → Adam on G (the Zencoder is part of G). No KLD,
even though the options carry `lambda_kld`. D step: G again with the *updated* weights (no gradient,
training mode, new noise draws) → D on the detached fake and the real → D_Fake + D_real → Adam on D.
Every network stays in training mode, so one iteration advances G's ACE batch statistics and
spectral-norm vectors twice, and D's twice.

Optimiser (`Pix2PixModel.create_optimizers`): with TTUR (the default) G lr = lr/2, D lr = 2·lr and the
betas are (0, 0.9) whatever `train.beta1/beta2` say (the official code hard-codes them); with `no_TTUR`
both lr and `(beta1, beta2)` (0.5, 0.999 by default). Adam eps 1e-8, no weight decay.

`noise` (tests): `{"G": {layer: draw}, "D": {layer: draw}}`, the official draws of the generator forward
of each step, replayed instead of the step's own (`spade_jax.nn.sean.ACE`).
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import optax

from spade_jax.gan import losses
from spade_jax.gan import state as gan_state
from spade_jax.gan.state import GANState, pmean as _pmean, with_variables as _with
from spade_jax.models.sean.model import SEANModel

G_NETS, D_NETS = ("G",), ("D",)
TTUR_BETAS = (0.0, 0.9)


def learning_rates(config) -> tuple[float, float]:
  """(G lr, D lr): lr/2 and 2·lr with TTUR, else lr and lr."""
  t = config.train
  return (t.lr, t.lr) if t.no_TTUR else (t.lr / 2, t.lr * 2)


def adam_betas(config) -> tuple[float, float]:
  t = config.train
  return (float(t.beta1), float(t.beta2)) if t.no_TTUR else TTUR_BETAS


def schedules(config) -> tuple[optax.Schedule, optax.Schedule]:
  """Constant, then linear decay to 0 over the last `train.niter_decay_steps` steps (official: `niter`
  epochs at the full rate, then `niter_decay` epochs decaying linearly; counted here in steps)."""
  decay = int(config.train.get("niter_decay_steps", 0) or 0)
  return tuple(gan_state.linear_decay(lr, config.total_steps, decay) for lr in learning_rates(config))


def make_optimizers(config) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  b1, b2 = adam_betas(config)
  return tuple(optax.adam(s, b1=b1, b2=b2, eps=1e-8) for s in schedules(config))


def new_state(config, variables: dict, rng: jax.Array) -> GANState:
  g_tx, d_tx = make_optimizers(config)
  return gan_state.create(variables, {"G": (g_tx, G_NETS), "D": (d_tx, D_NETS)}, rng)


def create_train_state(model: SEANModel, rng: jax.Array) -> GANState:
  """Fresh state: the official initialisation (drawn with the fast init PRNG) and the Adam states."""
  variables, state_rng = gan_state.init_with_fast_prng(model.init, rng)
  return new_state(model.config, variables, state_rng)


def noise_rng(rng, salt: int, axis_name: Optional[str]):
  """The ACE noise stream of one generator forward: a different stream per device under `axis_name`."""
  rng = jax.random.fold_in(rng, salt)
  return rng if axis_name is None else jax.random.fold_in(rng, jax.lax.axis_index(axis_name))


def g_step(model: SEANModel, state: GANState, batch: dict, *,
           vgg_fn: Optional[Callable[[jax.Array], list]] = None, noise: Optional[dict] = None,
           axis_name: Optional[str] = None) -> tuple[GANState, dict, dict]:
  """Generator update. Returns (state, metrics, aux: the fake, the D outputs, the averaged gradients)."""
  cfg = model.config
  t = cfg.train
  seg = model.semantics(batch)
  real = batch["image"]
  rng = jax.random.fold_in(state.rng, state.step)

  def loss_fn(g_params):
    variables = _with(state.variables, params={"G": g_params})
    fake, g_stats, _ = model.generate(variables, seg, image=real, rng=noise_rng(rng, 2, axis_name),
                                      noise=noise, train=True)
    pred_fake, pred_real, d_stats = model.discriminate(variables["D"], seg, fake, real, train=True)
    terms = {"GAN": losses.gan_loss(pred_fake, t.gan_mode, True, for_discriminator=False)}
    if not cfg.model.get("no_ganFeat_loss", False):
      terms["GAN_Feat"] = losses.feature_matching_loss(pred_fake, pred_real, t.lambda_feat)
    if not t.no_vgg_loss:
      if vgg_fn is None:
        raise ValueError("train.no_vgg_loss is False but no VGG feature function was given")
      terms["VGG"] = losses.vgg_loss(vgg_fn, fake, real) * t.lambda_vgg
    return sum(terms.values()), (terms, {"G": g_stats, "D": d_stats}, fake, (pred_fake, pred_real))

  grads, (terms, new_stats, fake, d_outs) = jax.grad(loss_fn, has_aux=True)(state.variables["G"]["params"])
  grads = _pmean({"G": grads}, axis_name)
  g_tx, _ = make_optimizers(cfg)
  state = gan_state.apply_gradients(state, "G", g_tx, G_NETS, grads, stats=new_stats)
  return state, _pmean(terms, axis_name), {"fake": fake, "d_outputs": d_outs, "grads": grads}


def d_step(model: SEANModel, state: GANState, batch: dict, *, noise: Optional[dict] = None,
           axis_name: Optional[str] = None) -> tuple[GANState, dict, dict]:
  """Discriminator update on a fake regenerated by the current G. Returns (state, metrics, aux)."""
  t = model.config.train
  seg = model.semantics(batch)
  real = batch["image"]
  rng = jax.random.fold_in(state.rng, state.step)
  fake, g_stats, _ = model.generate(state.variables, seg, image=real, rng=noise_rng(rng, 3, axis_name),
                                    noise=noise, train=True)
  fake = jax.lax.stop_gradient(fake)

  def loss_fn(d_params):
    d_vars = {"params": d_params, "batch_stats": state.variables["D"]["batch_stats"]}
    pred_fake, pred_real, d_stats = model.discriminate(d_vars, seg, fake, real, train=True)
    terms = {"D_Fake": losses.gan_loss(pred_fake, t.gan_mode, False, for_discriminator=True),
             "D_real": losses.gan_loss(pred_real, t.gan_mode, True, for_discriminator=True)}
    return terms["D_Fake"] + terms["D_real"], (terms, d_stats, (pred_fake, pred_real))

  grads, (terms, d_stats, d_outs) = jax.grad(loss_fn, has_aux=True)(state.variables["D"]["params"])
  grads = _pmean({"D": grads}, axis_name)
  _, d_tx = make_optimizers(model.config)
  state = gan_state.apply_gradients(state, "D", d_tx, D_NETS, grads, stats={"G": g_stats, "D": d_stats})
  return state, _pmean(terms, axis_name), {"fake": fake, "d_outputs": d_outs, "grads": grads}


def train_step(model: SEANModel, state: GANState, batch: dict, *,
               vgg_fn: Optional[Callable[[jax.Array], list]] = None, noise: Optional[dict] = None,
               axis_name: Optional[str] = None) -> tuple[GANState, dict]:
  """One official iteration (G step, then D step); the step counter advances by one."""
  noise = noise or {}
  state, g_metrics, _ = g_step(model, state, batch, vgg_fn=vgg_fn, noise=noise.get("G"), axis_name=axis_name)
  state, d_metrics, _ = d_step(model, state, batch, noise=noise.get("D"), axis_name=axis_name)
  return state.replace(step=state.step + 1), {**g_metrics, **d_metrics}
