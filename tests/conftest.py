"""Test set-up: 4 CPU devices (multi-device code is tested on CPU), fp32 matmuls, fast compiles."""
import os
import pathlib

import chex

# Must run before JAX initialises its backends: 4 CPU devices. The entry points' CPU speed flags
# (spade_jax.xla_flags) are off for the suite and for every child it starts (the variable is inherited,
# so a train.py child computes what this process computes): with them, XLA:CPU sums convolutions in
# another order, and the pix2pixHD training iteration and SinGAN's multi-scale samples leave the parity
# bound (sign flips of small first Adam steps; measured). Set SPADE_JAX_XLA_FLAGS=1 to test with them.
chex.set_n_cpu_devices(4)
os.environ.setdefault("SPADE_JAX_XLA_FLAGS", "0")

from spade_jax import xla_flags  # noqa: E402

xla_flags.configure("cpu", cache=False)

import jax  # noqa: E402
import pytest  # noqa: E402

from model_utils import SHARED_DIR, load_config, missing  # noqa: E402,F401  (prefer model_utils)

# Every persistent compilation cache the tests touch (`compilation_cache_dir="auto"` runs in this process,
# `train.py` children) is the tests' own, never the user's ~/.cache/spade_jax/xla.
from train_utils import default_cache_dir as _test_cache_dir  # noqa: E402

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _test_cache_dir())

jax.config.update("jax_default_matmul_precision", "highest")
# Compile time dominates these tiny-shape tests; numerics are unaffected (parity passes either way).
jax.config.update("jax_disable_most_optimizations", True)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = SHARED_DIR
REQUIRE_SHARED = "SPADE_REQUIRE_SHARED"  # set by .ci/run: a missing ../shared is then an error


def pytest_sessionstart(session):
  if os.environ.get(REQUIRE_SHARED) and not SHARED.is_dir():
    pytest.exit(f"{REQUIRE_SHARED} is set but the shared folder {SHARED} is missing (parity fixtures and "
                "sample data would be skipped)", returncode=3)


# A test whose xdist worker process died runs again on a fresh worker (at most CRASH_RERUNS times; one
# more crash fails it). Why: jaxlib 0.12's XLA:CPU segfaults now and then while compiling or loading an
# executable in a worker that has compiled many programs before (1-2 crashes in each of 4 full runs on
# the 2-core machine, in tests/test_train_parallel.py and tests/test_losses.py, inside
# `backend_compile_and_load` or `deserialize_executable`, with and without the persistent cache; the
# same tests pass alone, also with a 512 KiB main-thread stack). Assertion failures are never re-run.
CRASH_RERUNS = 2
_crashes: dict[str, int] = {}


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem, report, sched):
  if _crashes.get(crashitem, 0) >= CRASH_RERUNS:
    return None
  _crashes[crashitem] = _crashes.get(crashitem, 0) + 1
  sched.mark_test_pending(crashitem)
  report.outcome = "rerun"
  return True


def pytest_report_teststatus(report):
  if report.outcome == "rerun":
    return "rerun", "R", "RERUN (its worker crashed)"
  return None


def pytest_terminal_summary(terminalreporter):
  """One line: how many tests were skipped, and why (grouped by reason); one naming re-run crashes."""
  if _crashes:
    terminalreporter.write_line("re-ran after a worker crash (see conftest.CRASH_RERUNS): " + ", ".join(_crashes))
  skipped = terminalreporter.stats.get("skipped", [])
  if not skipped:
    return
  reasons: dict = {}
  for rep in skipped:
    longrepr = getattr(rep, "longrepr", None)
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    reasons[reason] = reasons.get(reason, 0) + 1
  parts = "; ".join(f"{n} × {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
  terminalreporter.write_line(f"skipped {len(skipped)} test(s): {parts}")


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
  if not SHARED.is_dir():
    pytest.skip(missing("the shared folder (sample datasets, parity fixtures)", SHARED))
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
