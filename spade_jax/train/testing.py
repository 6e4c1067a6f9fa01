"""Helpers for the training tests (and for anyone timing compiles): a shared persistent XLA
compilation cache and the environment of `train.py` subprocesses that matches the test process."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import jax


def default_cache_dir() -> str:
  return os.environ.get("SPADE_JAX_TEST_XLA_CACHE") or os.path.join(
      tempfile.gettempdir(), f"spade_jax_test_xla_cache_{os.getuid() if hasattr(os, 'getuid') else 0}")


@contextlib.contextmanager
def compilation_cache(path: str | None = None):
  """Persistent compilation cache for every compile inside the block (also tiny ones)."""
  path = path or default_cache_dir()
  os.makedirs(path, exist_ok=True)
  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  old = {n: getattr(jax.config, n) for n in names}
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  _reset()
  try:
    yield path
  finally:
    for n, v in old.items():
      jax.config.update(n, v)
    _reset()


def _reset():
  try:
    from jax._src import compilation_cache as cc
    cc.reset_cache()
  except Exception:  # noqa: BLE001 - private API; without it the cache may just stay as it was
    pass


def subprocess_env(num_devices: int = 4, cache_dir: str | None = None) -> dict:
  """Environment for `python train.py` children that compile exactly like the test process
  (tests/conftest.py: N CPU devices, highest matmul precision, most optimisations off) and share
  its compilation cache."""
  env = dict(os.environ)
  flags = [f for f in env.get("XLA_FLAGS", "").split() if "host_platform_device_count" not in f]
  env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={num_devices}"])
  env.update({
      "JAX_PLATFORMS": "cpu",
      "JAX_DEFAULT_MATMUL_PRECISION": "highest",
      "JAX_DISABLE_MOST_OPTIMIZATIONS": "true",
      "JAX_COMPILATION_CACHE_DIR": cache_dir or default_cache_dir(),
      "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
      "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
      "PYTHONUNBUFFERED": "1",
  })
  return env


PYTHON = sys.executable
