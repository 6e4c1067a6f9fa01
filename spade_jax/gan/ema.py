"""The EMA generator for sampling and evaluation, with its BN statistics re-estimated.

The state's EMA copy holds only params (`train.ema_decay`; updated in `step.train_step`). Its
running BN statistics are not an average of anything meaningful, so before sampling or evaluating
they are re-estimated: the EMA generator runs in training mode over a few recent training batches,
each batch's statistics are read back (the running estimate is zeroed before each forward, so the
update `momentum · batch_stat` gives them exactly) and averaged. The same forwards advance the
spectral-norm power iteration on the EMA weights, starting from the live generator's vectors.

All functions here are pure; `parallel` runs them under jit or pmap.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import traverse_util

from spade_jax.nn.norms import MOMENTUM
from spade_jax.train.step import draw_eps

BN_LEAVES = ("mean", "var")  # ParamFreeNorm running statistics; everything else (u, v) is spectral norm


def _is_bn(path: tuple) -> bool:
  return path[-1] in BN_LEAVES


def _map_bn(stats: dict, fn_bn, fn_other=lambda x: x) -> dict:
  flat = traverse_util.flatten_dict(stats)
  return traverse_util.unflatten_dict({k: (fn_bn(v) if _is_bn(k) else fn_other(v)) for k, v in flat.items()})


def ema_variables(variables: dict, ema: Optional[dict]) -> dict:
  """Sampling variables before re-estimation: EMA params with the live networks' batch_stats."""
  out = {k: dict(v) for k, v in variables.items() if k in ("G", "E")}
  for k, p in (ema or {}).items():
    out[k]["params"] = p
  return out


def reestimate(model, variables: dict, batches: dict, rng: jax.Array) -> dict:
  """G (+E) variables with BN statistics re-estimated over `batches` (each leaf `[K, B, ...]`).

  `variables` are the sampling variables (`ema_variables`); `model` may carry an `axis_name`
  (under pmap the statistics are then global over it, as in training).
  """
  k = jax.tree.leaves(batches)[0].shape[0]
  nets = [n for n in ("G", "E") if n in variables]
  stats0 = {n: variables[n]["batch_stats"] for n in nets}
  sums0 = {n: _map_bn(stats0[n], jnp.zeros_like, lambda x: jnp.zeros((), x.dtype)) for n in nets}

  def body(carry, xs):
    stats, sums = carry
    batch, i = xs
    zeroed = {n: _map_bn(stats[n], jnp.zeros_like) for n in nets}
    v = {n: {"params": variables[n]["params"], "batch_stats": zeroed[n]} for n in nets}
    seg = model.semantics(batch)
    eps = None
    if model.config.model.use_vae:  # noise for this device's rows of the global batch
      eps = draw_eps(model, jax.random.fold_in(rng, i), batch["image"].shape[0], model.axis_name)
    _, new_stats, _ = model.generate(v, seg, image=batch["image"], eps=eps, train=True)
    sums = {n: jax.tree.map(lambda s, new, path_is_bn: s + new / MOMENTUM if path_is_bn else s,
                            sums[n], new_stats[n], _bn_mask(new_stats[n])) for n in nets}
    return ({n: new_stats[n] for n in nets}, sums), None

  (stats, sums), _ = jax.lax.scan(body, (stats0, sums0), (batches, jnp.arange(k)))
  out = {}
  for n in nets:
    flat_s, flat_sum = traverse_util.flatten_dict(stats[n]), traverse_util.flatten_dict(sums[n])
    merged = {p: (flat_sum[p] / k if _is_bn(p) else flat_s[p]) for p in flat_s}
    out[n] = {"params": variables[n]["params"], "batch_stats": traverse_util.unflatten_dict(merged)}
  return out


def _bn_mask(stats: dict) -> dict:
  flat = traverse_util.flatten_dict(stats)
  return traverse_util.unflatten_dict({k: _is_bn(k) for k in flat})


def sample(model, variables: dict, batch: dict, rng: jax.Array) -> jax.Array:
  """Eval-mode generation (running statistics; with a VAE, z encoded from `batch["image"]`)."""
  fake, _, _ = model.generate(variables, model.semantics(batch), image=batch["image"], rng=rng,
                              train=False)
  return fake
