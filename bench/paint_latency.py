"""Paint-app latency: warm renders through the real HTTP server, as the page makes them.

    python bench/paint_latency.py [--out bench/results/paint_latency_cpu.json] [--requests 40]
        [--workdir runs/synthetic]      # trained weights for the 64x64 default (else random weights)
        [--no-official-width]           # skip the slow official-width 256x256 case

Cases (label maps: procedural landscapes of the synthetic dataset, a new one per request):
  * `synthetic_64`: configs/spade/synthetic.py, the default (64x64, ngf 16, VAE);
  * `synthetic_256_ngf16`: the same at 256x256 (`data.crop_size=256`);
  * `synthetic_256_official_width`: 256x256 at the official widths (ngf 64, SPADE hidden 128), fewer
    requests: it renders on release with a spinner.
Each case has its own server (port 0) and model, compiled first (`Engine.warmup`: every call the page
makes; the compile seconds are recorded). The cases are then timed interleaved (A B C A B C ...) so
they see the same machine load. Per request: the server-side time (`X-Server-Ms`: body read → PNG
written: decode, checks, model, PNG encode — what the targets bound), the model call alone
(`X-Render-Ms`), the client's round trip over localhost, and the process's CPU time per request
(less sensitive to other jobs on the machine than the wall times). Writes p50 / p95 / min / mean, the
variations grid's time, device, versions, load average before and after, and where the weights came
from (random weights of the right config when no trained workdir is given: same cost).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import io
import json
import os
import statistics
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

TARGETS_MS = {"synthetic_64": 100.0, "synthetic_256_ngf16": 400.0}
CASES = {
    "synthetic_64": {},
    "synthetic_256_ngf16": {"data.crop_size": 256, "data.load_size": 256},
    "synthetic_256_official_width": {"data.crop_size": 256, "data.load_size": 256, "model.ngf": 64,
                                     "model.nhidden": 128},
}


def _config(overrides: dict):
  import importlib
  from spade_jax.configs import common
  c = importlib.import_module("spade_jax.configs.spade.synthetic").get_config()
  for k, v in overrides.items():
    node = c
    *parents, leaf = k.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = v
  return common.complete(c)


def _model(name: str, overrides: dict, workdir):
  import jax
  from spade_jax import models
  config = _config(overrides)
  if workdir and not overrides:
    from spade_jax.evaluate.restore import load_for_inference
    family, variables, step = load_for_inference(config, workdir, return_step=True, log=lambda s: None)
    return family, variables, f"trained: {workdir} step {step}"
  family = models.build(config)
  t = time.perf_counter()
  state = jax.jit(family.init_state)(jax.random.PRNGKey(0))
  variables = jax.device_get(family.sampling_variables(state))
  print(f"{name}: random weights (official init) in {time.perf_counter() - t:.1f} s", flush=True)
  return family, variables, "random (the config's official initialisation; no trained workdir for this size)"


def _post(port: int, path: str, body: bytes, params: str = ""):
  """→ (response, body, round trip ms, CPU ms of this process — server and client — for the request)."""
  conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
  t, c = time.perf_counter(), time.process_time()
  conn.request("POST", path + params, body=body, headers={"Content-Type": "image/png"})
  r = conn.getresponse()
  data = r.read()
  rt, cpu = (time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3
  conn.close()
  if r.status != 200:
    raise RuntimeError(f"{path}: HTTP {r.status}: {data[:300]!r}")
  return r, data, rt, cpu


def _labels(hw, seed: int) -> bytes:
  from PIL import Image
  from spade_jax.data.synthetic.layout import make_layout
  lab = make_layout(np.random.default_rng(seed), *hw).label
  buf = io.BytesIO()
  Image.fromarray(lab).save(buf, format="PNG")
  return buf.getvalue()


def _stats(xs: list[float]) -> dict:
  xs = sorted(xs)
  pick = lambda q: xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]  # noqa: E731 - nearest rank
  return {"p50": round(pick(0.5), 1), "p95": round(pick(0.95), 1), "min": round(xs[0], 1),
          "mean": round(statistics.fmean(xs), 1), "n": len(xs)}


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "paint_latency_cpu.json"))
  ap.add_argument("--requests", type=int, default=40)
  ap.add_argument("--official-width-requests", type=int, default=6)
  ap.add_argument("--workdir", default=None, help="trained workdir of configs/spade/synthetic.py")
  ap.add_argument("--no-official-width", action="store_true")
  a = ap.parse_args(argv)

  from spade_jax import xla_flags
  xla_flags.configure()  # paint.py's backend flags, and the persistent compilation cache
  cache = xla_flags.default_cache_dir()
  from train_step import device_info, versions  # bench/train_step.py: the same device / version record
  from spade_jax.paint.engine import Engine
  from spade_jax.paint.server import PaintServer

  load_before = os.getloadavg()
  names = [n for n in CASES if not (a.no_official_width and "official_width" in n)]
  cases = {}
  for name in names:
    family, variables, weights = _model(name, CASES[name], a.workdir)
    engine = Engine(family, variables)
    compile_s = engine.warmup(lambda s, n=name: print(f"{name}: {s}", flush=True))
    server = PaintServer(("127.0.0.1", 0), engine, meta={"source": name, "step": None, "reproduce_args": []})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    n_params = sum(int(np.prod(x.shape)) for x in __import__("jax").tree.leaves(variables["G"]))
    cases[name] = {"server": server, "engine": engine, "record": {
        "overrides": CASES[name], "image_size": list(engine.hw), "ngf": int(family.config.model.ngf),
        "nhidden": int(family.config.model.nhidden), "use_vae": bool(family.config.model.use_vae),
        "G_params": n_params, "weights": weights, "compile_s": round(compile_s, 1),
        "server_ms": [], "model_ms": [], "round_trip_ms": [], "cpu_ms": []}}

  for name, c in cases.items():  # warm: a few untimed requests
    for k in range(2):
      _post(c["server"].server_address[1], "/api/generate", _labels(c["engine"].hw, 1000 + k), "?seed=1")
  for i in range(a.requests):
    for name, c in cases.items():
      if "official_width" in name and i >= a.official_width_requests:
        continue
      r, data, rt, cpu = _post(c["server"].server_address[1], "/api/generate", _labels(c["engine"].hw, i),
                               f"?seed={i}")
      rec = c["record"]
      rec["server_ms"].append(float(r.getheader("X-Server-Ms")))
      rec["model_ms"].append(float(r.getheader("X-Render-Ms")))
      rec["round_trip_ms"].append(rt)
      rec["cpu_ms"].append(cpu)
  out_cases = {}
  for name, c in cases.items():
    rec = c["record"]
    grid = []
    for k in range(3):
      r, data, rt, cpu = _post(c["server"].server_address[1], "/api/variations", _labels(c["engine"].hw, 77 + k),
                          "?seed=5")
      grid.append(json.loads(data)["server_ms"])
    summary = {k: v for k, v in rec.items() if not k.endswith("_ms")}
    summary.update({k: _stats(rec[k]) for k in ("server_ms", "model_ms", "round_trip_ms", "cpu_ms")})
    summary["variations"] = {"count": c["engine"].num_variations, "server_ms": _stats(grid)}
    if name in TARGETS_MS:
      summary["target_server_ms_p50"] = TARGETS_MS[name]
      summary["meets_target"] = summary["server_ms"]["p50"] <= TARGETS_MS[name]
    out_cases[name] = summary
    c["server"].close()
    print(f"{name}: server p50 {summary['server_ms']['p50']} ms, p95 {summary['server_ms']['p95']} ms "
          f"(model p50 {summary['model_ms']['p50']} ms)", flush=True)

  result = {
      "what": "paint app: POST /api/generate (id PNG → photo PNG), warm, through the HTTP server on localhost",
      "date": datetime.datetime.now().isoformat(timespec="seconds"),
      "device": device_info(), "versions": versions(), "cpu_count": os.cpu_count(),
      "load_average_before": [round(x, 2) for x in load_before],
      "load_average_after": [round(x, 2) for x in os.getloadavg()],
      "timing": "cases interleaved request by request; server_ms = request body read → PNG ready "
                "(decode, checks, model, encode); model_ms = the generate call; round_trip = client; "
                "cpu_ms = CPU time of the whole process (server + client, all threads) per request: on an "
                "idle machine with N cores the wall time is at least cpu_ms / N",
      "compile_cache": cache,
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "cases": out_cases,
  }
  os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
  with open(a.out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
  print(f"wrote {a.out}")


if __name__ == "__main__":
  main()
