"""Helpers for the training tests: a shared persistent XLA compilation cache, the environment of
`train.py` subprocesses that matches the test process, and state comparison within float32 noise."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import jax
import numpy as np

from spade_jax.train.checkpoint import flatten


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


def _flat(state) -> dict:
  return {k: np.asarray(v) for k, v in flatten(jax.device_get(state)).items()}


def _param_key(k: str):
  """The parameter a gradient-shaped leaf belongs to (Adam moments, EMA copy), else None."""
  for pre in ("opt_state.G.0.mu.", "opt_state.G.0.nu.", "opt_state.D.0.mu.", "opt_state.D.0.nu.", "ema."):
    if k.startswith(pre):
      net, rest = k[len(pre):].split(".", 1)
      return f"variables.{net}.params.{rest}"
  return k if ".params." in k else None


def assert_same_new_state(got, want, what, lr_max, rtol=2e-4, atol=2e-6):
  """New states of the same step computed two ways agree to float32 reduction-order noise.

  With beta1 = 0, Adam's first moment after one step *is* the gradient, and the first update is
  lr·g/(|g| + eps) ≈ ±lr: a parameter whose true gradient is zero (e.g. a conv bias before
  InstanceNorm) gets a noise-level gradient whose sign is arbitrary, so it may move by up to
  ±lr differently. Such parameters (and their EMA) are recognised by the reference gradient.
  The D step's generator forward runs with the updated parameters, so these (≤ 2·lr) shifts also
  reach BN running means (momentum 0.1) and spectral-norm vectors: those get an absolute 1e-4.
  Per-device instead of global BN statistics would move running means by ~1e-2 and more.
  """
  a, b = _flat(got), _flat(want)
  assert a.keys() == b.keys()
  grads = {_param_key(k): np.abs(v) for k, v in b.items() if k.startswith(("opt_state.G.0.mu.",
                                                                           "opt_state.D.0.mu."))}
  for k in b:
    x, y = a[k], b[k]
    if x.dtype.kind in "iu":
      np.testing.assert_array_equal(x, y, err_msg=f"{what}: {k}")
      continue
    tol = atol + rtol * np.abs(y) + 1e-5 * np.max(np.abs(y))  # sums with cancellation: leaf scale
    pk = _param_key(k)
    if pk is not None and (k.startswith("variables.") or k.startswith("ema.")):
      noise = grads[pk] < 1e-6
      tol = np.where(noise, tol + 2.0 * lr_max, tol)
    elif pk is not None and ".nu." in k:
      tol = tol + 1e-12  # 0.1·g², absolute noise of noise-level gradients
    elif ".batch_stats." in k:
      tol = tol + 1e-4
    bad = np.abs(x - y) > tol
    assert not bad.any(), (f"{what}: {k}: {int(bad.sum())}/{bad.size} elements differ, max "
                           f"{float(np.max(np.abs(x - y))):.3g}")
