"""The training state (one pytree) and the official optimisers.

`TrainState` holds G / D (/ E) variables (params and batch_stats: BN running statistics and
spectral-norm vectors), both optax states, the step, the RNG key and, when `train.ema_decay > 0`,
the EMA copy of the generator (+ encoder) params.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from spade_jax.train import fast_prng


@flax.struct.dataclass
class TrainState:
  """Everything a training run carries, as one pytree."""

  step: jax.Array
  variables: dict  # {"G": {params, batch_stats}, "D": {...}, ["E": {...}]}
  g_opt_state: Any
  d_opt_state: Any
  rng: jax.Array  # raw uint32 key; the step folds the step number into it
  ema: Any = None  # {"G": params, ["E": params]} or None (train.ema_decay == 0)


def learning_rates(config) -> tuple[float, float]:
  """(G lr, D lr): TTUR lr/2 and 2·lr unless `no_TTUR`."""
  t = config.train
  return (t.lr, t.lr) if t.no_TTUR else (t.lr / 2, t.lr * 2)


def schedule(lr: float, config) -> optax.Schedule:
  """Constant, then linear decay to 0 over the last `train.niter_decay_steps` steps (official shape:
  `niter` epochs at the full rate, `niter_decay` epochs decaying linearly, counted in steps)."""
  decay = int(config.train.get("niter_decay_steps", 0) or 0)
  if decay <= 0:
    return optax.constant_schedule(lr)
  hold = max(int(config.total_steps) - decay, 0)
  return optax.join_schedules([optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, decay)], [hold])


def schedules(config) -> tuple[optax.Schedule, optax.Schedule]:
  g_lr, d_lr = learning_rates(config)
  return schedule(g_lr, config), schedule(d_lr, config)


def make_optimizers(config) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """Adam for G(+E) and for D with the official betas, eps 1e-8, no weight decay."""
  t = config.train
  return tuple(optax.adam(s, b1=t.beta1, b2=t.beta2, eps=1e-8) for s in schedules(config))


def g_trainable(variables: dict) -> dict:
  return {k: variables[k]["params"] for k in ("G", "E") if k in variables}


def ema_decay(config) -> float:
  return float(config.train.get("ema_decay", 0.0) or 0.0)


def create_train_state(model, rng: jax.Array) -> TrainState:
  """Fresh state: official initialisation, Adam states, EMA copy (if configured).

  `rng` is a raw uint32[2] (threefry) key. The initial weights are drawn with `fast_prng` (same
  distributions, a generator that compiles in seconds instead of minutes on CPU); the state's own
  key, used by the training steps, stays threefry.
  """
  init_rng, state_rng = jax.random.split(rng)
  variables = model.init(fast_prng.init_key(init_rng))
  g_tx, d_tx = make_optimizers(model.config)
  ema = None
  if ema_decay(model.config) > 0:
    ema = jax.tree.map(jnp.copy, g_trainable(variables))  # its own buffers (the state is donated)
  return TrainState(step=jnp.zeros((), jnp.int32), variables=variables,
                    g_opt_state=g_tx.init(g_trainable(variables)),
                    d_opt_state=d_tx.init(variables["D"]["params"]), rng=state_rng, ema=ema)
