"""Steady-state training iteration (G step + D step + EMA), compile excluded.

    python bench/train_step.py --config configs/<name>.py --json OUT [--steps 20] [--warmup 3]
                               [--config.key=value ...]

Runs the mesh driver (jit over all devices, state replicated and donated, batch sharded) on fake
data of the config's shapes. Reports ms/iteration, images/s, peak memory (the device's peak on GPU /
TPU; on CPU, XLA's memory analysis of the step plus the process's peak RSS), FLOPs per iteration
(XLA cost analysis of the compiled step) and MFU on GPUs with a known peak. With the VGG loss on and
`train.vgg_weights=random`, VGG19 runs with random weights (same cost).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import sys
import time

from absl import flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "configs/spade/synthetic.py", "Training configuration file.")
flags.DEFINE_string("json", None, "Write the results as JSON to this file.")
flags.DEFINE_integer("steps", 20, "Timed iterations.")
flags.DEFINE_integer("warmup", 3, "Untimed iterations after compilation.")

# Dense peak FLOP/s per device (no sparsity) for MFU: {device_kind substring: {dtype: peak}}.
PEAK_FLOPS = {
    "H100": {"bfloat16": 989e12, "float32": 494e12},  # SXM; float32 assumes TF32 matmuls
    "H200": {"bfloat16": 989e12, "float32": 494e12},
    "A100": {"bfloat16": 312e12, "float32": 156e12},
    "V100": {"bfloat16": 125e12, "float32": 15.7e12},
    "L4": {"bfloat16": 121e12, "float32": 60e12},
}


def versions() -> dict:
  import flax
  import jax
  import jaxlib
  import optax
  import orbax.checkpoint as ocp
  import numpy as np
  return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
          "flax": flax.__version__, "optax": optax.__version__, "orbax_checkpoint": ocp.__version__,
          "numpy": np.__version__}


def device_info() -> dict:
  import jax
  d = jax.devices()[0]
  info = {"platform": d.platform, "kind": d.device_kind, "count": jax.device_count(),
          "processes": jax.process_count(), "host": platform.node(), "cpu_count": os.cpu_count()}
  if d.platform == "cpu":
    info["cpu"] = platform.processor() or platform.machine()
    try:
      info["load_average_1m"] = os.getloadavg()[0]
    except OSError:
      pass
  return info


def peak_flops(kind: str, dtype: str):
  for name, table in PEAK_FLOPS.items():
    if name.lower() in kind.lower():
      return table.get(dtype)
  return None


def run(config, steps: int = 20, warmup: int = 3) -> dict:
  import jax
  import numpy as np

  from spade_jax import models
  from spade_jax.configs import common
  from spade_jax.data.fake import FakeIterator
  from spade_jax.train import parallel

  config = common.complete(config)
  family = models.build(config)
  driver = parallel.MeshDriver(family)
  b = int(config.batch_size)
  if b % driver.num_devices:
    raise ValueError(f"batch_size {b} is not divisible by {driver.num_devices} devices")
  vgg = driver.put_resources(family.load_resources())

  t0 = time.perf_counter()
  state = driver.init_state(np.asarray(jax.random.PRNGKey(0)))
  jax.block_until_ready(state)
  init_s = time.perf_counter() - t0
  it = FakeIterator(config, "train", process_index=jax.process_index(), process_count=jax.process_count())
  batches = [driver.put_batch(next(it)) for _ in range(2)]

  t0 = time.perf_counter()
  compiled = driver._step.lower(state, batches[0], vgg).compile()  # noqa: SLF001
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", 0.0)) if cost else 0.0
  mem = compiled.memory_analysis()

  for i in range(warmup):
    state, metrics = compiled(state, batches[i % 2], vgg)
  jax.block_until_ready(state)
  t0 = time.perf_counter()
  for i in range(steps):
    state, metrics = compiled(state, batches[i % 2], vgg)
  jax.block_until_ready((state, metrics))
  dt = (time.perf_counter() - t0) / steps

  dev = jax.devices()[0]
  stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
  if stats and "peak_bytes_in_use" in stats:
    peak, peak_src = int(stats["peak_bytes_in_use"]), "device memory_stats peak_bytes_in_use (device 0)"
  else:
    peak = None
    if mem is not None:
      peak = int(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                 - mem.alias_size_in_bytes)
    peak_src = "XLA memory analysis of the step (arguments + outputs + temporaries - aliased), per device"
  dtype = str(config.get("dtype", "float32"))
  # cost_analysis counts the per-device program: multiply by the devices for the global iteration.
  global_flops = flops * driver.num_devices
  pf = peak_flops(dev.device_kind, dtype) if dev.platform == "gpu" else None
  result = {
      "ms_per_iter": round(dt * 1000, 3),
      "images_per_s": round(b / dt, 3),
      "peak_memory_bytes": peak,
      "peak_memory_source": peak_src,
      "host_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
      "flops_per_iter": global_flops,
      "flops_per_iter_source": "XLA cost_analysis of the compiled step × devices",
      "tflops_per_s": round(global_flops / dt / 1e12, 4),
      "mfu": (round(global_flops / dt / (pf * driver.num_devices), 4) if pf else None),
      "mfu_note": ("MFU vs the device's dense peak for the compute dtype" if pf else
                   "MFU is reported on GPUs with a known peak only"),
      "compile_s": round(compile_s, 2),
      "init_s": round(init_s, 2),
      "steps": steps, "warmup": warmup,
      "batch_size": b,
      "image_hw": list(family.image_hw),
      "dtype": dtype,
      "resources": "none" if vgg is None else "loaded by the family (e.g. VGG19 weights)",
      "losses": {k: float(np.asarray(v.addressable_data(0))) for k, v in metrics.items()},
      "device": device_info(),
      "versions": versions(),
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "config": config.to_dict(),
  }
  return result


def main(argv):
  del argv
  result = run(FLAGS.config, FLAGS.steps, FLAGS.warmup)
  text = json.dumps(result, indent=2, sort_keys=False, default=str)
  if FLAGS.json:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.json)), exist_ok=True)
    with open(FLAGS.json, "w") as f:
      f.write(text + "\n")
  summary = {k: result[k] for k in ("ms_per_iter", "images_per_s", "peak_memory_bytes", "flops_per_iter",
                                    "tflops_per_s", "mfu", "compile_s")}
  print(json.dumps(summary))


if __name__ == "__main__":
  from spade_jax import cli
  cli.run(main)
