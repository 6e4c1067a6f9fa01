"""Run fields every family shares (steps, batch, dtype, seed, logging and checkpoint cadence,
parallelism, distributed set-up), their defaults, and `complete`.

A family's `configs/<family>/default.py` starts from `get_config()` here and adds its own groups
(`model`, `data`, `train`, `eval`). `complete(config)` returns a copy of any config with every run
field present, so that a config file that does not care about them (or predates one) still trains.
"""

from __future__ import annotations

import ml_collections

DEFAULT_FAMILY = "spade"

# (path, default, meaning)
FIELDS = (
    ("family", DEFAULT_FAMILY, "the model family (a folder of spade_jax/models/)"),
    ("seed", 0, "seed of the initial weights, the step RNG and the data order"),
    ("total_steps", 100_000, "training iterations"),
    ("batch_size", 16, "global batch (all devices, all hosts)"),
    ("dtype", "float32", "compute dtype: float32 | bfloat16 (params and optimiser states stay float32)"),
    ("log_every_steps", 50, "progress line, JSONL metrics and TensorBoard scalars every N steps"),
    ("image_every_steps", 1000, "image grid (label | generated | real) every N steps (0 = never)"),
    ("checkpoint_every_steps", 1000, "orbax checkpoint every N steps (and at the end)"),
    ("keep_checkpoints", 3, "keep the N most recent checkpoints"),
    ("async_checkpointing", True, "write checkpoints in a background thread"),
    ("parallel", "mesh", "mesh: jax.jit over a Mesh with NamedSharding | pmap: jax.pmap"),
    ("num_sample_images", 8, "rows of the image grid (taken from the val split)"),
    ("compilation_cache_dir", "auto", "persistent XLA compilation cache: auto ($JAX_COMPILATION_CACHE_DIR, "
                                      "else ~/.cache/spade_jax/xla) | a folder | \"\" (none)"),
    ("distributed.initialize", "auto", "jax.distributed.initialize: auto (when the environment "
                                       "names a coordinator / cluster) | yes | no"),
    ("distributed.coordinator_address", "", "host:port of process 0 (yes, or auto with it set)"),
    ("distributed.num_processes", 0, "0 = from the environment"),
    ("distributed.process_id", -1, "-1 = from the environment"),
    ("distributed.cpu_collectives", "gloo", "CPU cross-process collectives (multi-process on CPU)"),
)


def _fill(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  for path, default, _ in FIELDS:
    *parents, leaf = path.split(".")
    node = c
    for p in parents:
      if p not in node:
        node[p] = ml_collections.ConfigDict()
      node = node[p]
    if leaf not in node:
      node[leaf] = default
  return c


def get_config() -> ml_collections.ConfigDict:
  """The run fields with their defaults (a family's default config adds its groups)."""
  return _fill(ml_collections.ConfigDict())


def complete(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` with the run fields added where missing (defaults above)."""
  return _fill(ml_collections.ConfigDict(config.to_dict()))
