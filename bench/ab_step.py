"""A/B timing of our training iteration under several variants, interleaved, one process per variant.

    .venv/bin/python bench/ab_step.py --variant NAME=SPEC [--variant ...] [--rounds 4 --iters 3]
        [--crop 64 --batch 2 --ngf 64 --ndf 64 --dtype float32] [--json OUT]

SPEC is JSON with any of:
  "env":   environment of that variant's process (e.g. {"XLA_FLAGS": "--xla_cpu_use_onednn=true"});
  "attrs": module attributes set before tracing, e.g. {"spade_jax.nn.convolution.MATMUL_ROWS_PER_COUT": 0};
  "path":  a source tree to import spade_jax from (another checkout, e.g. the previous commit);
  "dtype": "float32" | "bfloat16";
  "label_ids": true: SPADE's shared conv as a lookup (`vs_official.add_label_ids_to_conditioning`).
Every variant is built (and compiled) in its own child process first; then per round each variant
runs `--iters` iterations in turn (the order alternates between rounds), so all see the same load.
Reports min / median wall ms per iteration (and process CPU ms: steadier when others load the
machine), compile time, the load average, and the ratio to the first.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(spec: dict, args: dict):
  """Child: build the variant, then answer {"n": N} lines with per-iteration times."""
  reply = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)
  src = spec.get("path") or ROOT
  sys.path.insert(0, src)
  sys.path.insert(1, os.path.join(ROOT, "bench"))
  for name, value in spec.get("attrs", {}).items():
    mod, _, attr = name.rpartition(".")
    setattr(importlib.import_module(mod), attr, value)
  import vs_official as vo
  if spec.get("label_ids"):
    vo.add_label_ids_to_conditioning()
  cfg = vo.our_config(args["crop"], args["batch"], args["ngf"], args["ndf"], spec.get("dtype", args["dtype"]))
  ours = vo.Ours(cfg)
  reply.write(json.dumps({"compile_s": ours.compile_s, "flops": ours.flops}) + "\n")
  for line in sys.stdin:
    cmd = json.loads(line)
    if cmd.get("quit"):
      break
    reply.write(json.dumps({"ms": ours.train(int(cmd["n"])), "cpu_ms": ours.cpu_ms, "losses": ours.losses}) + "\n")


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument("--variant", action="append", default=[], help="NAME=JSON (see the docstring)")
  p.add_argument("--rounds", type=int, default=4)
  p.add_argument("--iters", type=int, default=3)
  p.add_argument("--warmup", type=int, default=1)
  p.add_argument("--crop", type=int, default=64)
  p.add_argument("--batch", type=int, default=2)
  p.add_argument("--ngf", type=int, default=64)
  p.add_argument("--ndf", type=int, default=64)
  p.add_argument("--dtype", default="float32")
  p.add_argument("--json", default=None)
  p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  a = p.parse_args(argv)
  shape = {"crop": a.crop, "batch": a.batch, "ngf": a.ngf, "ndf": a.ndf, "dtype": a.dtype}
  if a.worker:
    worker(json.loads(a.worker), shape)
    return
  variants = []
  for v in a.variant:
    name, _, spec = v.partition("=")
    variants.append((name, json.loads(spec or "{}")))
  if not variants:
    p.error("give at least one --variant NAME=SPEC")
  load_before = os.getloadavg()
  procs = {}
  info = {}
  for name, spec in variants:  # build one at a time: compilation is CPU-heavy
    env = dict(os.environ, **spec.get("env", {}))
    procs[name] = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)] +
        [f"--{k}={v}" for k, v in shape.items()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, bufsize=1, env=env)
    line = procs[name].stdout.readline()
    if not line:
      raise RuntimeError(f"variant {name} failed to start")
    info[name] = json.loads(line)
    print(f"{name}: compiled in {info[name]['compile_s']:.1f} s", flush=True)

  def run(name, n):
    procs[name].stdin.write(json.dumps({"n": n}) + "\n")
    procs[name].stdin.flush()
    out = json.loads(procs[name].stdout.readline())
    info[name]["losses"] = out["losses"]
    cpu[name] += out["cpu_ms"]
    return out["ms"]

  times = {n: [] for n, _ in variants}
  cpu = {n: [] for n, _ in variants}
  for n, _ in variants:
    run(n, a.warmup)
  order = [n for n, _ in variants]
  for r in range(a.rounds):
    for n in (order if r % 2 == 0 else order[::-1]):
      times[n] += run(n, a.iters)
  for n in order:
    cpu[n] = cpu[n][a.warmup:]
    procs[n].stdin.write(json.dumps({"quit": True}) + "\n")
    procs[n].stdin.flush()
    procs[n].wait()
  base = order[0]
  out = {"shape": shape, "load_average_before": [round(x, 2) for x in load_before],
         "load_average_after": [round(x, 2) for x in os.getloadavg()],
         "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "variants": {}}
  for n, spec in variants:
    ms = times[n]
    out["variants"][n] = {"spec": spec, "min_ms": round(min(ms), 1), "median_ms": round(statistics.median(ms), 1),
                          "ms": [round(x, 1) for x in ms],
                          "cpu_min_ms": round(min(cpu[n]), 1), "cpu_median_ms": round(statistics.median(cpu[n]), 1),
                          "compile_s": round(info[n]["compile_s"], 1),
                          "flops": info[n]["flops"], "losses": info[n].get("losses"),
                          "speedup_vs_first_median": round(statistics.median(times[base]) / statistics.median(ms), 3),
                          "speedup_vs_first_min": round(min(times[base]) / min(ms), 3)}
  print(json.dumps({n: {k: v[k] for k in ("min_ms", "median_ms", "cpu_min_ms", "cpu_median_ms", "compile_s",
                                          "speedup_vs_first_median")}
                    for n, v in out["variants"].items()}, indent=1))
  print("load", out["load_average_before"], "->", out["load_average_after"])
  if a.json:
    with open(a.json, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
