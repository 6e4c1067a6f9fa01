"""XLA settings of the entry points: backend flags (before JAX initialises) and the persistent cache.

    from spade_jax import xla_flags
    xla_flags.configure()          # first thing in main(), before any JAX computation

`configure(platform)` appends the flags below to `XLA_FLAGS` (a flag the user already put there wins;
`SPADE_JAX_XLA_FLAGS=0` turns this off) and turns on the persistent compilation cache. XLA reads
`XLA_FLAGS` once, when the first backend is created: calling `configure` later has no effect on the
flags (it says so with a warning) but still sets the cache.

CPU (measured: `bench/results/speed_attempts_cpu.md`):
  * `--xla_cpu_use_xnnpack=false`, `--xla_cpu_experimental_ynn_fusion_type=-individual_dot,
    -individual_convolution`: single matmuls and convolutions run in Eigen rather than XNNPACK /
    YNNPACK, faster on SPADE's shapes (a [32, 9216] x [9216, 1024] matmul: 50 → 25 ms; the whole
    iteration: about -10 % CPU time). float32 results stay float32 but are summed in another order:
    SPADE's parity tests pass with them; pix2pixHD's whole training iteration and SinGAN's multi-scale
    samples do not (instance norms amplify the rounding until small first Adam steps flip sign), so the
    test suite runs without them. `SPADE_JAX_XLA_FLAGS=0` gives the default XLA:CPU numerics.
  * with `dtype="bfloat16"` also `--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true`:
    bf16 convolutions and matmuls go to oneDNN, which uses AVX512-BF16 / AMX (XLA's own bf16
    convolutions are widened to float32: a 64×64×128 conv 19 → 1.1 ms, a 2048² matmul 30 → 13 ms).
    Not by default: in this jaxlib an executable holding oneDNN custom calls cannot be written to the
    persistent compilation cache (`Error writing persistent compilation cache entry ...
    std::bad_alloc`), so every start compiles again.
GPU / TPU: no flags.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Optional

CPU_FLAGS = (
    "--xla_cpu_use_xnnpack=false",
    "--xla_cpu_experimental_ynn_fusion_type=-individual_dot,-individual_convolution",
)
CPU_BF16_FLAGS = ("--xla_cpu_use_onednn=true", "--xla_cpu_experimental_onednn_custom_call=true")
FLAGS = {"cpu": CPU_FLAGS}


def _backends_initialised() -> bool:
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge
    return bool(getattr(xla_bridge, "_backends", None))
  except Exception:  # noqa: BLE001 - private API: assume initialised if it moved
    return True


def _guess_platform() -> str:
  env = os.environ.get("JAX_PLATFORMS", "") or os.environ.get("JAX_PLATFORM_NAME", "")
  if env:
    return env.split(",")[0].strip().lower()
  try:  # an installed CUDA / TPU plugin means the default backend is not the CPU
    import importlib.util
    for plugin, name in (("jax_cuda12_plugin", "gpu"), ("jax_cuda13_plugin", "gpu"), ("libtpu", "tpu")):
      if importlib.util.find_spec(plugin) is not None:
        return name
  except (ImportError, ValueError):
    pass
  return "cpu"


def flags_for(platform: str, dtype: Optional[str] = None) -> tuple[str, ...]:
  platform = {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)
  extra = CPU_BF16_FLAGS if (platform == "cpu" and dtype == "bfloat16") else ()
  return FLAGS.get(platform, ()) + extra


def merge_flags(current: str, extra: tuple[str, ...]) -> str:
  """`current` XLA_FLAGS plus each of `extra` whose flag name is not already set in it."""
  have = {f.split("=")[0] for f in current.split()}
  add = [f for f in extra if f.split("=")[0] not in have]
  return " ".join([current.strip()] + add).strip() if add else current


def configure(platform: Optional[str] = None, *, dtype: Optional[str] = None, cache_dir: Optional[str] = None,
              cache: bool = True) -> str:
  """Set the XLA flags for `platform` (default: guessed from JAX_PLATFORMS / installed plugins) and the
  compute `dtype` (the config's `dtype`, when known: "bfloat16" adds oneDNN on CPU), and
  the persistent compilation cache (`cache_dir`, default `$SPADE_JAX_CACHE/xla` or
  `~/.cache/spade_jax/xla`). Returns the resulting XLA_FLAGS."""
  platform = (platform or _guess_platform()).lower()
  if os.environ.get("SPADE_JAX_XLA_FLAGS", "1") != "0":
    extra = flags_for(platform, dtype)
    new = merge_flags(os.environ.get("XLA_FLAGS", ""), extra)
    if new != os.environ.get("XLA_FLAGS", ""):
      if _backends_initialised():
        warnings.warn("spade_jax.xla_flags.configure: JAX is already initialised; XLA flags "
                      f"{' '.join(extra)} not applied (call configure() before any JAX computation)")
      else:
        os.environ["XLA_FLAGS"] = new
  if cache:
    enable_compilation_cache(cache_dir)
  return os.environ.get("XLA_FLAGS", "")


def default_cache_dir() -> str:
  root = os.environ.get("SPADE_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "spade_jax")
  return os.path.join(root, "xla")


def enable_compilation_cache(cache_dir: Optional[str] = None, min_compile_time_s: float = 1.0) -> str:
  """JAX's persistent compilation cache in `cache_dir` (entries are keyed by JAX on the program, the
  compile options, the XLA flags, the backend and the jax/jaxlib versions, so one directory serves
  every config and version safely). Programs compiling in under `min_compile_time_s` are not stored."""
  import jax
  path = cache_dir or default_cache_dir()
  os.makedirs(path, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
