"""Test helpers: variables for a model without compiling its initialisers (XLA:CPU takes ~25 s)."""

import jax
import numpy as np


def random_variables(model, seed: int = 0, scale: float = 0.05) -> dict:
  """Host-filled variables with the structure of `model.init`: N(0, scale²) params, BN mean 0 /
  var 1, unit spectral-norm vectors. For tests of code around the model, not of its init."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0)))

  def fill(path, s):
    name = path[-1].key
    if name == "var":
      return np.ones(s.shape, np.float32)
    if name == "mean":
      return np.zeros(s.shape, np.float32)
    x = rng.standard_normal(s.shape).astype(np.float32)
    if name in ("u", "v"):
      return x / np.linalg.norm(x)
    return x * scale
  return jax.tree_util.tree_map_with_path(fill, shapes)
