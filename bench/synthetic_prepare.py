"""Wall and CPU time to render and write the embedded synthetic dataset (issue #4: ≤ 2 min on 2 cores).

    .venv/bin/python bench/synthetic_prepare.py [--resolution 256] [--train 2000] [--val 200] \
        [--workers 0] [--json bench/results/synthetic_prepare_cpu.json]

Prepares into a fresh temporary directory (nothing cached is reused) and writes a JSON with the
machine, the load average before and after, and the versions.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs.default import get_config  # noqa: E402
from spade_jax.data import pipeline  # noqa: E402


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--resolution", type=int, default=256)
  ap.add_argument("--train", type=int, default=2000)
  ap.add_argument("--val", type=int, default=200)
  ap.add_argument("--workers", type=int, default=0, help="prepare_workers (0 = one per core)")
  ap.add_argument("--json", default="bench/results/synthetic_prepare_cpu.json")
  a = ap.parse_args()
  c = get_config()
  d = c.data
  d.name, d.label_nc = "synthetic", 10
  d.synthetic_resolution, d.synthetic_train_size, d.synthetic_val_size = a.resolution, a.train, a.val
  d.prepare_workers = a.workers
  tmp = tempfile.mkdtemp(prefix="synthetic_prepare_")
  d.data_dir = tmp
  load0 = os.getloadavg()[0]
  t, cpu = time.perf_counter(), os.times()
  try:
    out = pipeline.prepared_dir(c)
    wall = time.perf_counter() - t
    t1 = os.times()
    cpu_s = (t1.user - cpu.user) + (t1.system - cpu.system) + (t1.children_user - cpu.children_user) + (
        t1.children_system - cpu.children_system)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  import jax
  result = {"bench": "synthetic_prepare", "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "wall_s": round(wall, 1), "cpu_s": round(cpu_s, 1), "bytes_written": size,
            "config": {"resolution": a.resolution, "train": a.train, "val": a.val, "workers": a.workers},
            "device": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "host": platform.node(),
                       "load_average_1m_before": round(load0, 2),
                       "load_average_1m_after": round(os.getloadavg()[0], 2)},
            "versions": {"python": platform.python_version(), "jax": jax.__version__,
                         "numpy": __import__("numpy").__version__}}
  os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
  with open(a.json, "w") as f:
    json.dump(result, f, indent=1)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
