"""The official initialisation (`models.weights_init` applied to fresh nets).

Conv weights ~ N(0, 0.02^2); conv biases keep PyTorch's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in));
BatchNorm weight ~ N(1, 0.02^2), bias 0; running mean 0, running var 1, `num_batches_tracked` 0.
"""

from __future__ import annotations

import math

import flax
import jax
import jax.numpy as jnp

from spade_jax.models.singan.networks import Critic, Generator


def template(net, nc_im: int = 3):
  """The variable shapes of `net` (no compilation)."""
  x = jnp.zeros((1, 21, 21, nc_im), jnp.float32)
  args = (x, x) if isinstance(net, Generator) else (x,)
  return jax.eval_shape(lambda: net.init(jax.random.key(0), *args, train=False))


def official_init(key: jax.Array, net, nc_im: int = 3) -> dict:
  """Fresh variables of `net` (Generator or Critic) drawn as the official `weights_init` does."""
  shapes = flax.core.unfreeze(template(net, nc_im))
  flat = flax.traverse_util.flatten_dict(shapes["params"])
  keys = jax.random.split(key, len(flat))
  params = {}
  for k, (path, sd) in zip(keys, sorted(flat.items())):
    if path[-1] == "kernel":
      v = 0.02 * jax.random.normal(k, sd.shape, jnp.float32)
    elif path[-1] == "bias" and path[-2] in ("conv", "tail"):
      kernel_shape = flat[path[:-1] + ("kernel",)].shape
      bound = 1.0 / math.sqrt(kernel_shape[0] * kernel_shape[1] * kernel_shape[2])
      v = jax.random.uniform(k, sd.shape, jnp.float32, -bound, bound)
    elif path[-1] == "scale":
      v = 1.0 + 0.02 * jax.random.normal(k, sd.shape, jnp.float32)
    else:  # BatchNorm bias
      v = jnp.zeros(sd.shape, jnp.float32)
    params[path] = v
  stats = flax.traverse_util.flatten_dict(shapes["batch_stats"])
  batch_stats = {p: (jnp.zeros(s.shape, s.dtype) if p[-1] != "var" else jnp.ones(s.shape, s.dtype))
                 for p, s in stats.items()}
  return {"params": flax.traverse_util.unflatten_dict(params),
          "batch_stats": flax.traverse_util.unflatten_dict(batch_stats)}
