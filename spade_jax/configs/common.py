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


def tiny_run(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The cadence of the families' `tiny` test configs: 8 steps of batch 4, logs every 2 steps, grids and
  checkpoints every 4, 2 grid rows."""
  c.seed, c.total_steps, c.batch_size = 0, 8, 4
  c.log_every_steps, c.image_every_steps, c.checkpoint_every_steps = 2, 4, 4
  c.keep_checkpoints, c.num_sample_images = 3, 2
  return c


def tiny_synthetic_data(d: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The `tiny` configs' data: 32×32 crops (load 36) of 16 + 4 synthetic landscapes rendered at 32×32
  (10 classes, instance maps), prepared under ~/.cache/spade_jax unless `data_dir` is set; one reader."""
  d.name, d.data_dir, d.label_nc = "synthetic", "", 10
  d.crop_size, d.load_size = 32, 36
  d.synthetic_train_size, d.synthetic_val_size, d.synthetic_resolution = 16, 4, 32
  d.num_threads = 1
  return d


def label_map_data(label_nc: int, *, no_instance: bool, name: str = "synthetic", crop_size: int = 256,
                   load_size: int = 286, aspect_ratio: float = 1.0, preprocess_mode: str = "resize_and_crop",
                   contain_dontcare_label: bool = False) -> ml_collections.ConfigDict:
  """The `data` block of a label-map family's defaults (the official option names)."""
  d = ml_collections.ConfigDict()
  d.name, d.data_dir = name, ""
  d.label_nc, d.contain_dontcare_label, d.no_instance = label_nc, contain_dontcare_label, no_instance
  d.crop_size, d.load_size, d.aspect_ratio = crop_size, load_size, aspect_ratio
  d.preprocess_mode, d.no_flip = preprocess_mode, False
  return d

