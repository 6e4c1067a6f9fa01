"""Input pipeline throughput (images/s) and where to build the one-hot input (host or jit).

    .venv/bin/python bench/input_pipeline.py [--data-dir DIR] [--batch-size 16] [--batches 40]
                                             [--workers 0 2] [--out bench/results]

1. Whole pipeline: `make_iterator(config, "train")` on the synthetic dataset at 256x256
   (resize 286 bicubic → random crop 256 → flip → [-1, 1]; labels/instances nearest), after a
   warm-up, for each worker setting (0 = threads in this process).
2. Semantics: one-hot + don't-care + edge channels for a batch built (a) on the host with numpy
   and copied to the device, (b) inside jit from the int32 maps (`labels.to_semantics`), for the
   synthetic (12 channels) and COCO-Stuff (184 channels) layouts.
Writes a JSON with the machine and date to --out.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs.default import get_config  # noqa: E402
from spade_jax.data import pipeline  # noqa: E402


def pipeline_rate(data_dir: str, batch_size: int, batches: int, workers: int) -> dict:
  c = get_config()
  c.batch_size = batch_size
  d = c.data
  d.name, d.label_nc, d.data_dir = "synthetic", 10, data_dir
  d.load_size, d.crop_size, d.preprocess_mode = 286, 256, "resize_and_crop"
  d.num_workers = workers
  it = pipeline.make_iterator(c, "train", process_index=0, process_count=1)
  for _ in range(5):  # warm-up: worker start, caches
    next(it)
  t, cpu = time.perf_counter(), time.process_time()
  for _ in range(batches):
    next(it)
  dt, cpu = time.perf_counter() - t, time.process_time() - cpu
  n = batches * batch_size
  out = {"workers": workers, "batch_size": batch_size, "batches": batches,
         "images_per_s": round(n / dt, 1)}
  if workers == 0:  # all work in this process: its CPU time is the cost, whatever the machine's load
    out["cpu_ms_per_image"] = round(1000 * cpu / n, 2)
  return out


def numpy_semantics(label, instance, nc):
  sem = np.eye(nc + 1, dtype=np.float32)[label]
  t = instance
  e = np.zeros(t.shape, bool)
  dx, dy = t[:, :, 1:] != t[:, :, :-1], t[:, 1:] != t[:, :-1]
  e[:, :, 1:] |= dx
  e[:, :, :-1] |= dx
  e[:, 1:] |= dy
  e[:, :-1] |= dy
  sem[..., -1] = e
  return sem


def semantics_cost(batch_size: int, label_nc: int, reps: int = 5) -> dict:
  import jax
  from spade_jax.data import labels
  rng = np.random.default_rng(0)
  label = rng.integers(0, label_nc + 1, (batch_size, 256, 256)).astype(np.int32)
  instance = rng.integers(0, 4, (batch_size, 256, 256)).astype(np.int32)
  nc = label_nc + 1  # + don't-care; the edge channel is added by numpy_semantics / to_semantics

  def host():
    return jax.device_put(numpy_semantics(label, instance, nc)).block_until_ready()

  f = jax.jit(lambda l, i: labels.to_semantics(l, i, label_nc=label_nc, contain_dontcare_label=True,
                                                no_instance=False))

  def in_jit():
    return f(jax.device_put(label), jax.device_put(instance)).block_until_ready()

  out = {"label_nc": label_nc, "channels": nc + 1, "batch_size": batch_size,
         "host_MB_per_batch": round(batch_size * 256 * 256 * (nc + 1) * 4 / 2**20, 1),
         "int_maps_MB_per_batch": round(2 * batch_size * 256 * 256 * 4 / 2**20, 1)}
  for name, fn in (("host_numpy_ms", host), ("in_jit_ms", in_jit)):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
      fn()
    out[name] = round(1000 * (time.perf_counter() - t) / reps, 1)
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data-dir", default="", help="where the synthetic dataset is (or goes)")
  p.add_argument("--batch-size", type=int, default=16)
  p.add_argument("--batches", type=int, default=40)
  p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
  p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
  a = p.parse_args()
  import jax
  result = {"bench": "input_pipeline", "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "jax_device": str(jax.devices()[0]),
            "pipeline": [], "semantics": []}
  for w in a.workers:
    r = pipeline_rate(a.data_dir, a.batch_size, a.batches, w)
    cost = f" ({r['cpu_ms_per_image']} CPU-ms per image)" if "cpu_ms_per_image" in r else ""
    print(f"pipeline 256x256, {w} worker processes: {r['images_per_s']} images/s{cost}", flush=True)
    result["pipeline"].append(r)
  for nc in (10, 182):
    r = semantics_cost(a.batch_size, nc)
    print(f"semantics {r['channels']} channels, batch {a.batch_size}: host numpy + copy "
          f"{r['host_numpy_ms']} ms ({r['host_MB_per_batch']} MB), in jit {r['in_jit_ms']} ms "
          f"({r['int_maps_MB_per_batch']} MB copied)", flush=True)
    result["semantics"].append(r)
  os.makedirs(a.out, exist_ok=True)
  path = os.path.join(a.out, f"input_pipeline_{datetime.date.today().isoformat()}.json")
  with open(path, "w") as f:
    json.dump(result, f, indent=1)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
