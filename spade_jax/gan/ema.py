"""EMA weights for sampling and evaluation, with their batch-norm statistics re-estimated.

A state's EMA copy holds only params. Their running BN statistics are not an average of anything
meaningful, so before sampling or evaluating they are re-estimated: the network runs in training mode
(a forward the family supplies) over a few recent training batches, each batch's statistics are read
back (the running estimate is zeroed before each forward, so the update `momentum · batch_stat` gives
them exactly) and averaged. The same forwards advance the spectral-norm power iteration on the EMA
weights, starting from the live networks' vectors.

All functions here are pure; the engine's drivers run them under jit or pmap.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import traverse_util

from spade_jax.nn.norms import MOMENTUM

BN_LEAVES = ("mean", "var")  # ParamFreeNorm running statistics; everything else (u, v) is spectral norm


def _is_bn(path: tuple) -> bool:
  return path[-1] in BN_LEAVES


def _map_bn(stats: dict, fn_bn, fn_other=lambda x: x) -> dict:
  flat = traverse_util.flatten_dict(stats)
  return traverse_util.unflatten_dict({k: (fn_bn(v) if _is_bn(k) else fn_other(v)) for k, v in flat.items()})


def _bn_mask(stats: dict) -> dict:
  flat = traverse_util.flatten_dict(stats)
  return traverse_util.unflatten_dict({k: _is_bn(k) for k in flat})


def update(ema: dict, params: dict, step: jax.Array, decay: float) -> dict:
  """ema ← d·ema + (1 − d)·params with d = min(decay, (1 + step) / (10 + step)): a short warm-up so
  that early samples are not dominated by the random initialisation."""
  d = jnp.minimum(decay, (1.0 + step) / (10.0 + step)).astype(jnp.float32)
  return jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, ema, params)


def ema_variables(variables: dict, ema: Optional[dict], nets: Sequence[str]) -> dict:
  """Sampling variables before re-estimation: EMA params with the live networks' batch_stats."""
  out = {k: dict(v) for k, v in variables.items() if k in nets}
  for k, p in (ema or {}).items():
    out[k]["params"] = p
  return out


def reestimate(forward: Callable[[dict, dict, jax.Array], dict], variables: dict, batches: dict,
               rng: jax.Array) -> dict:
  """`variables` with BN statistics re-estimated over `batches` (each leaf `[K, B, ...]`).

  `forward(variables, batch, rng_i)` runs the networks in training mode and returns their new
  batch_stats `{net: stats}` (under pmap it computes global statistics over its axis, as in training).
  """
  k = jax.tree.leaves(batches)[0].shape[0]
  nets = list(variables)
  stats0 = {n: variables[n]["batch_stats"] for n in nets}
  sums0 = {n: _map_bn(stats0[n], jnp.zeros_like, lambda x: jnp.zeros((), x.dtype)) for n in nets}

  def body(carry, xs):
    stats, sums = carry
    batch, i = xs
    zeroed = {n: _map_bn(stats[n], jnp.zeros_like) for n in nets}
    v = {n: {"params": variables[n]["params"], "batch_stats": zeroed[n]} for n in nets}
    new_stats = forward(v, batch, jax.random.fold_in(rng, i))
    new_stats = {n: new_stats.get(n, stats[n]) for n in nets}
    sums = {n: jax.tree.map(lambda s, new, path_is_bn: s + new / MOMENTUM if path_is_bn else s,
                            sums[n], new_stats[n], _bn_mask(new_stats[n])) for n in nets}
    return (new_stats, sums), None

  (stats, sums), _ = jax.lax.scan(body, (stats0, sums0), (batches, jnp.arange(k)))
  out = {}
  for n in nets:
    flat_s, flat_sum = traverse_util.flatten_dict(stats[n]), traverse_util.flatten_dict(sums[n])
    merged = {p: (flat_sum[p] / k if _is_bn(p) else flat_s[p]) for p in flat_s}
    out[n] = {"params": variables[n]["params"], "batch_stats": traverse_util.unflatten_dict(merged)}
  return out
