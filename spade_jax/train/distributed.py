"""`jax.distributed.initialize` when the config or the environment asks for it.

`config.distributed.initialize`:
  auto  initialise when a coordinator is given (`distributed.coordinator_address` or
        `JAX_COORDINATOR_ADDRESS`) or a multi-process cluster is detected (SLURM with more than
        one task, Open MPI with more than one rank, a multi-host Cloud TPU slice); otherwise run as a
        single process;
  yes   always initialise (JAX detects the cluster when the address is not given);
  no    never.
Must run before anything touches a JAX backend.
"""

from __future__ import annotations

import logging
import os

import jax

log = logging.getLogger("spade_jax.train")


def _int(v) -> int:
  try:
    return int(v or 0)
  except ValueError:
    return 0


def environment_asks(env=None) -> bool:
  """True when the environment describes a multi-process job."""
  env = os.environ if env is None else env
  if env.get("JAX_COORDINATOR_ADDRESS"):
    return True
  if _int(env.get("SLURM_NTASKS")) > 1 and env.get("SLURM_JOB_ID"):
    return True
  if _int(env.get("OMPI_COMM_WORLD_SIZE")) > 1:
    return True
  if "," in env.get("TPU_WORKER_HOSTNAMES", ""):  # a multi-host Cloud TPU slice
    return True
  return False


def should_initialize(config, env=None) -> bool:
  d = config.get("distributed", None)
  mode = str(d.get("initialize", "auto") if d is not None else "auto").lower()
  if mode in ("no", "false", "0", "off"):
    return False
  if mode in ("yes", "true", "1", "on"):
    return True
  if mode != "auto":
    raise ValueError(f"distributed.initialize={mode!r}: expected auto, yes or no")
  return bool(d is not None and d.get("coordinator_address", "")) or environment_asks(env)


def maybe_initialize(config) -> bool:
  """Initialises the multi-process runtime if asked; returns whether it is initialised."""
  if jax.distributed.is_initialized():
    return True
  if not should_initialize(config):
    return False
  d = config.distributed
  # CPU collectives across processes (multi-process CPU runs and tests); no effect on GPU / TPU.
  if d.get("cpu_collectives", "gloo"):
    jax.config.update("jax_cpu_collectives_implementation", d.cpu_collectives)
  kwargs = {}
  if d.get("coordinator_address", ""):
    kwargs["coordinator_address"] = d.coordinator_address
  if int(d.get("num_processes", 0) or 0) > 0:
    kwargs["num_processes"] = int(d.num_processes)
  if int(d.get("process_id", -1)) >= 0:
    kwargs["process_id"] = int(d.process_id)
  jax.distributed.initialize(**kwargs)
  log.info("jax.distributed initialised: process %d of %d", jax.process_index(), jax.process_count())
  return True
