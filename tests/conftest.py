"""Test set-up: 4 CPU devices (multi-device code is tested on CPU), fp32 matmuls, fast compiles."""
import os
import pathlib

import chex

# Must run before JAX initialises its backends.
chex.set_n_cpu_devices(4)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("SPADE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data directory not found: {SHARED}")
    return SHARED
