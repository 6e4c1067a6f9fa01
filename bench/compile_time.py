"""Compile time of the SPADE training step per config, cold and warm (persistent compilation cache).

    .venv/bin/python bench/compile_time.py [--configs synthetic,ade20k64,tiny] [--json OUT]

Each measurement runs in a fresh process (nothing compiled in memory): `cold` with the persistent
cache off; `warm` with a fresh cache directory that a first process fills and a second one reads.
Per run: the state initialisation (its compile + run), trace + lowering of the step, XLA compilation,
the first step's execution, and `first_step_s`: the time from the start of building to the end of the
first step (what a user waits for before training starts; imports and data preparation excluded).
Also the size of the step's program (HLO instructions after optimisation, convolutions and dots, and
the lowered StableHLO text size): what makes it large.
`ade20k64` is the official ADE20K config at 64×64, batch 2, no EMA (as in `bench/vs_official.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.append(ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))


def load_config(name: str):
  import vs_official as vo
  if name == "ade20k64":
    return vo.our_config(64, 2, 64, 64, "float32")
  get = vo._first(f"spade_jax.configs.spade.{name}:get_config", f"configs.{name}:get_config")
  complete = vo._first("spade_jax.configs.common:complete", "spade_jax.train.settings:complete")
  c = complete(get())
  c.data.name = "fake"
  return c


def worker(name: str, cache_dir: str, label_ids: bool) -> dict:
  try:
    import spade_jax.xla_flags as xf
    xf.configure("cpu", cache=False)
  except ImportError:
    xf = None
  import jax
  if cache_dir:
    if xf is not None:
      xf.enable_compilation_cache(cache_dir, min_compile_time_s=0.0)
    else:
      jax.config.update("jax_compilation_cache_dir", cache_dir)
      jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  import numpy as np
  import vs_official as vo
  if label_ids:
    vo.add_label_ids_to_conditioning()
  cfg = load_config(name)
  t_start = time.perf_counter()
  SPADEModel = vo._first("spade_jax.models.spade:SPADEModel")
  train_step = vo._first("spade_jax.models.spade.step:train_step", "spade_jax.train.step:train_step")
  create_train_state = vo._first("spade_jax.models.spade.step:create_train_state",
                                 "spade_jax.train.state:create_train_state")
  FakeIterator = vo._first("spade_jax.data.fake:FakeIterator", "spade_jax.train.fake_data:FakeIterator")
  model = SPADEModel(cfg)
  t0 = time.perf_counter()
  init = jax.jit(lambda rng: create_train_state(model, rng))
  key = np.asarray(jax.random.PRNGKey(0))
  state = init.lower(key).compile(compiler_options={"xla_backend_optimization_level": 0,
                                                    "xla_llvm_disable_expensive_passes": True})(key)
  jax.block_until_ready(state)
  init_s = time.perf_counter() - t0
  b = next(FakeIterator(cfg, "train"))
  batch = {k: jax.device_put(b[k]) for k in ("image", "label", "instance")}
  step = jax.jit(lambda s, bt: train_step(model, s, bt), donate_argnums=0)
  t0 = time.perf_counter()
  lowered = step.lower(state, batch)
  lower_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  compiled = lowered.compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  state, metrics = compiled(state, batch)
  jax.block_until_ready(state)
  first_exec_s = time.perf_counter() - t0
  first_step_s = time.perf_counter() - t_start
  t0 = time.perf_counter()
  state, metrics = compiled(state, batch)
  jax.block_until_ready(state)
  second_exec_s = time.perf_counter() - t0
  text = compiled.as_text()
  entry = text[text.index("ENTRY"):] if "ENTRY" in text else text
  return {"config": name, "init_s": round(init_s, 2), "lower_s": round(lower_s, 2),
          "compile_s": round(compile_s, 2), "first_exec_s": round(first_exec_s, 2),
          "second_exec_s": round(second_exec_s, 2), "first_step_s": round(first_step_s, 2),
          "hlo_instructions": len(re.findall(r"^\s+(?:ROOT )?%", text, re.M)),
          "entry_instructions": len(re.findall(r"^\s+(?:ROOT )?%", entry, re.M)),
          "convolutions": len(re.findall(r" convolution\(", text)), "dots": len(re.findall(r" dot\(", text)),
          "stablehlo_chars": len(lowered.as_text()),
          "params": int(sum(x.size for x in jax.tree.leaves(state.variables))),
          "batch_size": int(cfg.batch_size), "crop": int(cfg.data.crop_size)}


def run_worker(name: str, cache_dir: str, label_ids: bool) -> dict:
  cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--cache-dir", cache_dir]
  if label_ids:
    cmd.append("--label-ids")
  out = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if out.returncode:
    raise RuntimeError(f"{name}: worker failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument("--configs", default="synthetic,ade20k64,tiny")
  p.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "compile_time_cpu.json"))
  p.add_argument("--label-ids", action="store_true")
  p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  p.add_argument("--cache-dir", default="", help=argparse.SUPPRESS)
  a = p.parse_args(argv)
  if a.worker:
    print(json.dumps(worker(a.worker, a.cache_dir, a.label_ids)))
    return
  results = {"load_average_before": [round(x, 2) for x in os.getloadavg()],
             "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "xla_flags_env": os.environ.get("XLA_FLAGS", ""), "label_ids_lookup": a.label_ids, "configs": {}}
  for name in [c for c in a.configs.split(",") if c]:
    cache = tempfile.mkdtemp(prefix="spade_cc_")
    try:
      cold = run_worker(name, "", a.label_ids)
      print(f"{name} cold: {cold}", flush=True)
      fill = run_worker(name, cache, a.label_ids)
      warm = run_worker(name, cache, a.label_ids)
      print(f"{name} warm: {warm}", flush=True)
    finally:
      shutil.rmtree(cache, ignore_errors=True)
    results["configs"][name] = {"cold": cold, "cache_fill": fill, "warm": warm}
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    with open(a.json, "w") as f:  # after every config: a long run leaves what it measured
      json.dump(results, f, indent=1)
  print(json.dumps({n: {k: (v[k]["first_step_s"], v[k]["compile_s"]) for k in ("cold", "warm")}
                    for n, v in results["configs"].items()}))


if __name__ == "__main__":
  main()
