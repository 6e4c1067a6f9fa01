"""Training-run fields of the config (logging, checkpoints, parallelism, EMA) and their defaults.

`complete(config)` returns a copy of `config` with every field below present: a config file written
before these fields existed (or one that does not care) still trains. The dataset configs import
`spade_jax/defaults.py`; the fields are listed here so the loop has one place that names them.
"""

from __future__ import annotations

import ml_collections

# (path, default, meaning)
FIELDS = (
    ("log_every_steps", 50, "progress line, JSONL metrics and TensorBoard scalars every N steps"),
    ("image_every_steps", 1000, "image grid (label | generated | real) every N steps (0 = never)"),
    ("checkpoint_every_steps", 1000, "orbax checkpoint every N steps (and at the end)"),
    ("keep_checkpoints", 3, "keep the N most recent checkpoints"),
    ("async_checkpointing", True, "write checkpoints in a background thread"),
    ("parallel", "mesh", "mesh: jax.jit over a Mesh with NamedSharding | pmap: jax.pmap"),
    ("num_sample_images", 8, "rows of the image grid (taken from the val split)"),
    ("train.ema_decay", 0.999, "EMA of the generator (+encoder) params; 0 = no EMA copy"),
    ("train.ema_bn_batches", 4, "recent training batches to re-estimate the EMA generator's BN "
                                "statistics before sampling (0 = use G's running statistics)"),
    ("distributed.initialize", "auto", "jax.distributed.initialize: auto (when the environment "
                                       "names a coordinator / cluster) | yes | no"),
    ("distributed.coordinator_address", "", "host:port of process 0 (yes, or auto with it set)"),
    ("distributed.num_processes", 0, "0 = from the environment"),
    ("distributed.process_id", -1, "-1 = from the environment"),
    ("distributed.cpu_collectives", "gloo", "CPU cross-process collectives (multi-process on CPU)"),
)


def complete(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` with the training-run fields added where missing (defaults above)."""
  c = ml_collections.ConfigDict(config.to_dict())
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
