"""Adam as torch 1.4 computes it (the official SinGAN optimiser: betas (beta1, 0.999), eps 1e-8).

`m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
`p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
The learning rate is an argument of every step (the official MultiStepLR changes it per epoch).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def init(params) -> dict:
  zeros = jax.tree.map(jnp.zeros_like, params)
  return {"m": zeros, "v": jax.tree.map(jnp.zeros_like, params), "t": jnp.zeros((), jnp.int32)}


def step(params, grads, state, lr, beta1: float = 0.5, beta2: float = 0.999, eps: float = 1e-8):
  """(new params, new state)."""
  t = state["t"] + 1
  tf = t.astype(jnp.float32)
  bc1 = 1 - jnp.power(jnp.float32(beta1), tf)
  bc2 = 1 - jnp.power(jnp.float32(beta2), tf)
  m = jax.tree.map(lambda m, g: beta1 * m + (1 - beta1) * g, state["m"], grads)
  v = jax.tree.map(lambda v, g: beta2 * v + (1 - beta2) * g * g, state["v"], grads)
  step_size = lr / bc1
  new = jax.tree.map(lambda p, m, v: p - step_size * m / (jnp.sqrt(v) / jnp.sqrt(bc2) + eps), params, m, v)
  return new, {"m": m, "v": v, "t": t}
