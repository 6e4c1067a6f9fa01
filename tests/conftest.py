"""Test set-up: 4 CPU devices (multi-device code is tested on CPU), fp32 matmuls, fast compiles."""
import os
import pathlib

import chex

# Must run before JAX initialises its backends.
chex.set_n_cpu_devices(4)

import jax  # noqa: E402
import pytest  # noqa: E402

from model_utils import load_config  # noqa: E402,F401  (prefer importing it from model_utils)

jax.config.update("jax_default_matmul_precision", "highest")
# Compile time dominates these tiny-shape tests; numerics are unaffected (parity passes either way).
jax.config.update("jax_disable_most_optimizations", True)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("SPADE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data directory not found: {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def fid_weights_path() -> pathlib.Path:
  """The real FID Inception weights; fetched once when absent; skip only when they cannot be fetched."""
  import subprocess
  path = REPO / "weights" / "fid_inception" / "default_1.pt"
  if not path.is_file():
    fetch = subprocess.run(["bash", str(REPO / "scripts" / "fetch_fid_weights.sh")],
                           capture_output=True, text=True, timeout=600)
    if fetch.returncode != 0 or not path.is_file():
      pytest.skip(f"{path} is absent and scripts/fetch_fid_weights.sh failed: "
                  f"{(fetch.stderr or fetch.stdout).strip().splitlines()[-1:]}")
  return path
