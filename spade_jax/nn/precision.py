"""The compute dtype of a config (`config.dtype`): float32, or bfloat16 compute with float32 params,
optimiser states and normalisation statistics."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}


def compute_dtype(config) -> Any:
  """None (float32) or jnp.bfloat16; raises ValueError naming `dtype` for anything else."""
  name = config.get("dtype", "float32")
  if name not in DTYPES:
    raise ValueError(f"dtype={name!r}: expected one of {sorted(DTYPES)}")
  return DTYPES[name]
