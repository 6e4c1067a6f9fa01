"""The official pix2pixHD training iteration (NVIDIA/pix2pixHD `train.py` + `Pix2PixHDModel.forward`) as a
pure function on `spade_jax.gan.state.GANState`.

One forward serves both updates: E (features of the real photo, averaged per instance) → G → D three times
with the pre-update D weights: on `[input_label, fake.detach()]` (→ D_fake), on `[input_label, real]`
(→ D_real) and on `[input_label, fake]` (→ G_GAN and feature matching against the detached D_real
features); VGG loss on (fake, real). `loss_G = G_GAN + G_GAN_Feat + G_VGG` updates G (+E) with one Adam,
`loss_D = ½ (D_fake + D_real)` updates D with another; G is not re-run for the D update. Both gradients come
from ONE backward pass of `loss_G(G, E, stop_grad(D)) + loss_D(D, stop_grad(fake))`, whose partial
derivatives are exactly the two official gradients.

Losses: LSGAN (mean squared error to 1 / 0) or, with `no_lsgan`, BCE on the sigmoid of the logits; **summed
over the D scales**. Feature matching: Σ_scales Σ_layers L1 · lambda_feat / num_D · 4 / (n_layers_D + 1).
VGG: `spade_jax.gan.losses.vgg_loss` · lambda_feat.

Frozen global phase (`train.niter_fix_global` steps, local generators): only the outermost enhancer
(`local_<L>`) and E are stepped (the other gradients are zeroed: their Adam moments stay 0, so they do not
move, as if they were outside the optimiser); at step `niter_fix_global` G's Adam restarts with fresh
moments over all of G (+E) (official `update_fixed_params`). Learning rates: constant, then linear decay to
0 over the last `train.niter_decay_steps` steps, for G and D.
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax

from spade_jax.gan import ema as ema_lib
from spade_jax.gan import losses
from spade_jax.gan import state as gan_state
from spade_jax.gan.state import GANState, group_params, pmean
from spade_jax.models.pix2pixhd.model import Pix2PixHDModel, n_local_enhancers

G_NETS, D_NETS = ("G", "E"), ("D",)
SAMPLING_NETS = G_NETS
LOSS_NAMES = ("G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake")


def schedule(config) -> optax.Schedule:
  """The learning rate of G and of D (one rate, as officially): constant, then linear decay to 0 over the
  last `train.niter_decay_steps` steps of the run."""
  t = config.train
  return gan_state.linear_decay(float(t.lr), int(config.total_steps), int(t.get("niter_decay_steps", 0) or 0))


def make_optimizer(config) -> optax.GradientTransformation:
  """Adam (beta1, beta2, eps 1e-8, no weight decay) × the scheduled rate. A chain so that the Adam part
  (element 0 of its state) can be restarted without restarting the schedule's step count."""
  t = config.train
  return optax.chain(optax.scale_by_adam(b1=float(t.beta1), b2=float(t.beta2), eps=1e-8),
                     optax.scale_by_learning_rate(schedule(config)))


def fix_global_steps(config) -> int:
  return int(config.train.get("niter_fix_global", 0) or 0) if n_local_enhancers(config) else 0


def ema_decay(config) -> float:
  return float(config.train.get("ema_decay", 0.0) or 0.0)


def new_state(config, variables: dict, rng: jax.Array) -> GANState:
  tx = make_optimizer(config)
  return gan_state.create(variables, {"G": (tx, G_NETS), "D": (tx, D_NETS)}, rng,
                          ema_nets=SAMPLING_NETS if ema_decay(config) > 0 else ())


def trainable_while_fixed(config, g_params: dict) -> dict:
  """Mask over `{"G": ..., "E": ...}` params: True for what the frozen-global phase steps."""
  outer = f"local_{n_local_enhancers(config)}"
  return {net: jax.tree_util.tree_map_with_path(
      lambda path, _: net == "E" or getattr(path[0], "key", None) == outer, p) for net, p in g_params.items()}


def forward(model: Pix2PixHDModel, variables: dict, batch: dict, *, train: bool, with_d: bool = True,
            record: bool = False, vgg_fn: Optional[Callable] = None, d_grad_params: Optional[dict] = None):
  """The official forward. Returns (losses {name: scalar}, new batch_stats {net: ...}, record).

  `record` (tests) holds the input label, features before / after pooling, the generator's intermediates,
  the fake, and the three D calls' outputs (`d_fake_detached`, `d_real`, `d_fake`). D runs with
  `d_grad_params` for the two D-loss calls (default: its params) and with stopped gradients for the G call."""
  cfg = model.config
  t = cfg.train
  real = batch["image"]
  input_label = model.input_label(batch)
  rec = {"input_label": input_label}
  stats = {}
  feats = batch.get("features")
  if model.E is not None and feats is None:
    feats, stats["E"], inter = model.encode(variables["E"], real, model.pooling_ids(batch), train=train,
                                            intermediates=record)
    rec["features_raw"] = inter.get("raw", (None,))[0] if record else None
  rec["features"] = feats
  g_in = model.generator_input(input_label, feats)
  fake, stats["G"], inter = model.generate(variables["G"], g_in, train=train, intermediates=record)
  rec.update(g_input=g_in, fake=fake, g_intermediates=inter)
  if not with_d:
    return {}, stats, rec

  d_params = variables["D"]["params"] if d_grad_params is None else d_grad_params
  d_stats = variables["D"].get("batch_stats", {})
  call = lambda p, s, img: model.discriminate({"params": p, "batch_stats": s}, input_label, img, train=train)  # noqa: E731
  pred_fake_det, d_stats = call(d_params, d_stats, jax.lax.stop_gradient(fake))
  pred_real, d_stats = call(d_params, d_stats, real)
  pred_fake, d_stats = call(jax.lax.stop_gradient(d_params), d_stats, fake)
  stats["D"] = d_stats
  rec.update(d_fake_detached=pred_fake_det, d_real=pred_real, d_fake=pred_fake)

  mode = "original" if t.no_lsgan else "ls"
  terms = {"G_GAN": losses.gan_loss(pred_fake, mode, True, for_discriminator=False, reduce="sum")}
  if not cfg.model.no_ganFeat_loss:
    terms["G_GAN_Feat"] = losses.feature_matching_loss(pred_fake, pred_real, float(t.lambda_feat),
                                                       layer_weight=4.0 / (int(cfg.model.n_layers_D) + 1))
  if not t.no_vgg_loss:
    if vgg_fn is None:
      raise ValueError("train.no_vgg_loss is False but no VGG feature function was given")
    terms["G_VGG"] = losses.vgg_loss(vgg_fn, fake, real) * float(t.lambda_feat)
  terms["D_real"] = losses.gan_loss(pred_real, mode, True, for_discriminator=True, reduce="sum")
  terms["D_fake"] = losses.gan_loss(pred_fake_det, mode, False, for_discriminator=True, reduce="sum")
  return terms, stats, rec


def loss_G(terms: dict) -> jax.Array:
  return sum(v for k, v in terms.items() if k.startswith("G_"))


def loss_D(terms: dict) -> jax.Array:
  return 0.5 * (terms["D_fake"] + terms["D_real"])


def gradients(model: Pix2PixHDModel, state: GANState, batch: dict, *, vgg_fn=None, record: bool = False):
  """(G+E grads, D grads, losses, new batch_stats, record) of one official forward."""
  def total(g_params, d_params):
    variables = gan_state.with_variables(state.variables, params=g_params)
    terms, stats, rec = forward(model, variables, batch, train=True, record=record, vgg_fn=vgg_fn,
                                d_grad_params=d_params)
    return loss_G(terms) + loss_D(terms), (terms, stats, rec)

  g_params = group_params(state.variables, G_NETS)
  (g_grads, d_grads), (terms, stats, rec) = jax.grad(total, argnums=(0, 1), has_aux=True)(
      g_params, state.variables["D"]["params"])
  return g_grads, d_grads, terms, stats, rec


def train_step(model: Pix2PixHDModel, state: GANState, batch: dict, *, vgg_fn=None,
               axis_name: Optional[str] = None, record: bool = False):
  """One official iteration (+ the EMA update when the state has one) → (state, metrics, aux).

  aux (for tests): the gradients and, with `record`, what `forward` records."""
  cfg = model.config
  g_grads, d_grads, terms, stats, rec = gradients(model, state, batch, vgg_fn=vgg_fn, record=record)
  g_grads, d_grads = pmean(g_grads, axis_name), pmean(d_grads, axis_name)
  tx = make_optimizer(cfg)
  fix = fix_global_steps(cfg)
  if fix > 0:
    frozen = state.step < fix
    mask = trainable_while_fixed(cfg, g_grads)
    g_grads = jax.tree.map(lambda g, m: g if m else jnp.where(frozen, jnp.zeros_like(g), g), g_grads, mask)
    restart = state.step == fix  # official update_fixed_params: a fresh Adam over all of G (+E)
    adam, sched = state.opt_state["G"]
    adam = jax.tree.map(lambda x: jnp.where(restart, jnp.zeros_like(x), x), adam)
    state = state.replace(opt_state={**state.opt_state, "G": (adam, sched)})
  state = gan_state.apply_gradients(state, "G", tx, G_NETS, g_grads)
  state = gan_state.apply_gradients(state, "D", tx, D_NETS, {"D": d_grads}, stats=stats)
  if state.ema is not None:
    state = state.replace(ema=ema_lib.update(state.ema, group_params(state.variables, SAMPLING_NETS), state.step,
                                             ema_decay(cfg)))
  metrics = pmean({**terms, "loss_G": loss_G(terms), "loss_D": loss_D(terms)}, axis_name)
  return state.replace(step=state.step + 1), metrics, {"g_grads": g_grads, "d_grads": d_grads, "record": rec}
