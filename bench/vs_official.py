"""Our SPADE training iteration against the official PyTorch one, side by side, in one process tree.

    .venv/bin/python bench/vs_official.py --spade-dir .anchors/SPADE \
        [--torch-python .anchors/torch-venv/bin/python] [--out bench/results/vs_official_cpu.json] \
        [--crop 64 --batch 2 --ngf 64 --ndf 64] [--rounds 4 --iters 3] [--latency-crops 64,256] \
        [--sides ours_fp32,official,ours_bf16] [--device cpu|cuda]

`--spade-dir` is a checkout of NVlabs/SPADE the user fetched (its `sync_batchnorm` submodule and
torchvision are optional: see `bench/official_worker.py`); `--torch-python` an interpreter with torch.
The official side runs in a child process (`official_worker.py`, driven over a pipe); both sides are
built once and then timed *interleaved*: per round, `--iters` iterations of each side in turn, so both
see the same machine load. Nothing in the checkout is modified.

The shared configuration is the official ADE20K one (151 label channels with don't-care, no instance
map, ngf = ndf = 64, SPADE hidden width 128, spectral SPADE sync-BN 3×3 in G, spectral instance norm in
D, 2 scales × 4 layers, hinge loss + feature matching, Adam (0, 0.9), TTUR) at `--crop` (64 by
default) and `--batch` (2), fp32, no VGG loss, no VAE, no EMA. Sides:
  * `official`: `Pix2PixTrainer.run_generator_one_step` + `run_discriminator_one_step`;
  * `ours_fp32`: the pure `train_step` (G step + D step) under `jax.jit` with the state donated;
  * `ours_bf16`: the same with `--config.dtype=bfloat16` (bf16 compute; params, optimizer and the
    normalisation statistics in fp32).
Then the G forward (synthesis) latency at batch 1 for each `--latency-crops`: ours in eval mode
(one-hot included) against the official test-time `model(data, mode='inference')` after `model.eval()`.

Writes one JSON: device, versions of both sides, both configurations, load average before/after, the
per-iteration times (all of them, min and median), images/s, and the ratios official-time / our-time
(> 1: ours is faster).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.append(ROOT)  # after PYTHONPATH: a variant may import spade_jax from another tree


def _first(*candidates):
  """The first importable `module:attr` of `candidates` (the package layout is being reorganised)."""
  err = None
  for c in candidates:
    mod, _, attr = c.partition(":")
    try:
      m = importlib.import_module(mod)
      return getattr(m, attr) if attr else m
    except (ImportError, AttributeError) as e:
      err = e
  raise ImportError(f"none of {candidates} importable: {err}")


def cpu_name() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("flags"):
          return sorted(x for x in line.split(":", 1)[1].split() if x.startswith(("avx512", "amx", "avx2", "fma")))
  except OSError:
    pass
  return []


def summary(ms: list[float], batch: int) -> dict:
  med = statistics.median(ms)
  return {"ms": [round(x, 2) for x in ms], "min_ms": round(min(ms), 2), "median_ms": round(med, 2),
          "images_per_s_median": round(batch * 1000 / med, 4),
          "images_per_s_best": round(batch * 1000 / min(ms), 4)}


def ratio(official: dict, ours: dict) -> dict:
  return {"median": round(official["median_ms"] / ours["median_ms"], 4),
          "min": round(official["min_ms"] / ours["min_ms"], 4)}


# ----------------------------------------------------------------------------------------------------
# Our side


def our_config(crop: int, batch: int, ngf: int, ndf: int, dtype: str):
  get_config = _first("spade_jax.configs.spade.ade20k:get_config", "configs.ade20k:get_config")
  complete = _first("spade_jax.configs.common:complete", "spade_jax.train.settings:complete")
  c = get_config()
  c.data.crop_size, c.data.load_size = crop, crop
  c.batch_size = batch
  c.model.ngf, c.model.ndf, c.model.nhidden = ngf, ndf, 128
  c.model.use_vae = False
  c.train.no_vgg_loss = True
  c.dtype = dtype
  c = complete(c)
  c.train.ema_decay = 0.0
  c.data.name = "fake"
  return c


def add_label_ids_to_conditioning():
  """Bench-only stand-in until `SPADEModel.conditioning` puts `cond["label_ids"]` itself: wraps it to
  add the ids of the (one-hot by construction) segmap, so that SPADE's shared conv runs as a lookup."""
  SPADEModel = _first("spade_jax.models.spade:SPADEModel")
  onehot_ids = _first("spade_jax.data.labels:onehot_ids")
  orig = SPADEModel.conditioning
  if getattr(orig, "_adds_label_ids", False):
    return

  def conditioning(self, segmap, image=None, extra=None):
    cond = orig(self, segmap, image, extra)
    if "label_ids" not in cond:
      cond["label_ids"] = onehot_ids(segmap[..., :-1] if "instance_edge" in cond else segmap)
    return cond
  conditioning._adds_label_ids = True
  SPADEModel.conditioning = conditioning


class Ours:
  """Our pure training step (G step + D step) jitted with the state donated, on one device."""

  def __init__(self, config):
    import jax
    import numpy as np
    SPADEModel = _first("spade_jax.models.spade:SPADEModel")
    self.train_step = _first("spade_jax.models.spade.step:train_step", "spade_jax.train.step:train_step")
    create_train_state = _first("spade_jax.models.spade.step:create_train_state",
                                "spade_jax.train.state:create_train_state")
    FakeIterator = _first("spade_jax.data.fake:FakeIterator", "spade_jax.train.fake_data:FakeIterator")
    self.jax = jax
    self.config = config
    self.model = SPADEModel(config)
    self.batch = int(config.batch_size)
    t0 = time.perf_counter()
    init = jax.jit(lambda rng: create_train_state(self.model, rng))
    self.state = init.lower(np.asarray(jax.random.PRNGKey(0))).compile(
        compiler_options={"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
    )(np.asarray(jax.random.PRNGKey(0)))
    jax.block_until_ready(self.state)
    self.init_s = time.perf_counter() - t0
    it = FakeIterator(config, "train")
    keys = ("image", "label", "instance")
    self.batches = [{k: jax.device_put(b[k]) for k in keys} for b in (next(it), next(it))]
    step = jax.jit(lambda s, b: self.train_step(self.model, s, b), donate_argnums=0)
    t0 = time.perf_counter()
    self.step = step.lower(self.state, self.batches[0]).compile()
    self.compile_s = time.perf_counter() - t0
    cost = self.step.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    self.flops = float(cost.get("flops", 0.0)) if cost else None
    self.i = 0
    self.losses = None

  def train(self, n: int) -> list[float]:
    """Wall ms of each of `n` iterations (the process CPU ms of each go to `self.cpu_ms`)."""
    out, self.cpu_ms = [], []
    for _ in range(n):
      t0, c0 = time.perf_counter(), time.process_time()
      self.state, metrics = self.step(self.state, self.batches[self.i % 2])
      self.jax.block_until_ready(self.state)
      out.append((time.perf_counter() - t0) * 1000)
      self.cpu_ms.append((time.process_time() - c0) * 1000)
      self.i += 1
    self.losses = {k: float(v) for k, v in metrics.items()}
    return out


class OursLatency:
  """Eval-mode G forward (one-hot included), batch 1."""

  def __init__(self, config):
    import jax
    import numpy as np
    SPADEModel = _first("spade_jax.models.spade:SPADEModel")
    FakeIterator = _first("spade_jax.data.fake:FakeIterator", "spade_jax.train.fake_data:FakeIterator")
    init_key = _first("spade_jax.nn.fast_prng:init_key", "spade_jax.train.fast_prng:init_key")
    self.jax = jax
    model = SPADEModel(config)
    init = jax.jit(lambda rng: model.init(init_key(rng)))
    self.variables = init.lower(np.asarray(jax.random.PRNGKey(1))).compile(
        compiler_options={"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
    )(np.asarray(jax.random.PRNGKey(1)))
    b = next(FakeIterator(config, "val"))
    self.batch = {k: jax.device_put(b[k]) for k in ("label", "instance")}
    fwd = jax.jit(lambda v, batch: model.generate(v, model.semantics(batch), train=False)[0])
    t0 = time.perf_counter()
    self.fwd = fwd.lower(self.variables, self.batch).compile()
    self.compile_s = time.perf_counter() - t0

  def run(self, n: int) -> list[float]:
    out = []
    for _ in range(n):
      t0 = time.perf_counter()
      self.jax.block_until_ready(self.fwd(self.variables, self.batch))
      out.append((time.perf_counter() - t0) * 1000)
    return out


# ----------------------------------------------------------------------------------------------------
# The official side (child process)


class OfficialProcess:
  def __init__(self, torch_python: str, spade_dir: str, device: str, train_args: list[str],
               omp_wait_policy: str = ""):
    worker = os.path.join(ROOT, "bench", "official_worker.py")
    if not os.path.isfile(os.path.join(spade_dir, "models", "pix2pix_model.py")):
      raise FileNotFoundError(f"--spade-dir {spade_dir}: not a checkout of NVlabs/SPADE "
                              "(models/pix2pix_model.py is missing)")
    if not os.path.isfile(torch_python):
      raise FileNotFoundError(f"--torch-python {torch_python}: no such interpreter")
    self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "vs_official_worker.log"), "w")
    self.p = subprocess.Popen([torch_python, worker, "--spade-dir", spade_dir, "--device", device, "--"]
                              + train_args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=self.log, text=True, bufsize=1,
                              env=dict(os.environ, **({"OMP_WAIT_POLICY": omp_wait_policy} if omp_wait_policy else {})))
    self._read()

  def _read(self):
    line = self.p.stdout.readline()
    if not line:
      raise RuntimeError(f"the official worker exited (see {self.log.name})")
    return json.loads(line)

  def call(self, **cmd):
    self.p.stdin.write(json.dumps(cmd) + "\n")
    self.p.stdin.flush()
    out = self._read()
    if "error" in out:
      raise RuntimeError(out["error"])
    return out

  def close(self):
    try:
      self.p.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
      self.p.stdin.flush()
      self.p.wait(timeout=60)
    except (OSError, subprocess.TimeoutExpired):
      self.p.kill()


def official_args(crop: int, batch: int, ngf: int, ndf: int) -> list[str]:
  return ["--dataset_mode", "ade20k", "--crop_size", str(crop), "--load_size", str(crop),
          "--batchSize", str(batch), "--ngf", str(ngf), "--ndf", str(ndf), "--num_D", "2",
          "--n_layers_D", "4", "--norm_G", "spectralspadesyncbatch3x3", "--norm_D", "spectralinstance",
          "--gan_mode", "hinge", "--no_vgg_loss", "--netG", "spade"]


# ----------------------------------------------------------------------------------------------------


def our_versions() -> dict:
  import flax
  import jax
  import jaxlib
  import numpy as np
  import optax
  return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
          "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--spade-dir", required=True)
  p.add_argument("--torch-python", default=os.path.join(ROOT, ".anchors", "torch-venv", "bin", "python"))
  p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "vs_official_cpu.json"))
  p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
  p.add_argument("--crop", type=int, default=64)
  p.add_argument("--batch", type=int, default=2)
  p.add_argument("--ngf", type=int, default=64)
  p.add_argument("--ndf", type=int, default=64)
  p.add_argument("--rounds", type=int, default=4)
  p.add_argument("--iters", type=int, default=3, help="iterations per side per round")
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--sides", default="ours_fp32,official,ours_bf16")
  p.add_argument("--latency-crops", default="64,256", help="'' to skip the G-forward latency")
  p.add_argument("--latency-iters", type=int, default=3)
  p.add_argument("--latency-rounds", type=int, default=2)
  p.add_argument("--xla-flags", default="default", choices=("default", "none"),
                 help="default: spade_jax.xla_flags.configure (the entry points' settings); none: XLA's")
  p.add_argument("--label-ids", default="auto", choices=("auto", "off"),
                 help="auto: SPADE's shared conv as a lookup (cond['label_ids'], added by a bench-side "
                      "wrapper when the model does not add it itself); off: the dense convolution")
  p.add_argument("--omp-wait-policy", default="", choices=("", "PASSIVE", "ACTIVE"),
                 help="OMP_WAIT_POLICY of the official side ('' = torch's default). On a loaded machine "
                      "PASSIVE keeps torch's OpenMP threads from collapsing (measured 23-25 s -> 6 s per "
                      "iteration at load 5; ~2 s idle)")
  p.add_argument("--note", default="", help="free text stored in the JSON (e.g. what else ran)")
  args = p.parse_args(argv)
  sides = [s for s in args.sides.split(",") if s]
  for s in sides:
    if s not in ("ours_fp32", "official", "ours_bf16"):
      p.error(f"--sides: unknown side {s!r} (expected ours_fp32, official, ours_bf16)")

  if args.xla_flags == "default":
    try:
      xla_flags = importlib.import_module("spade_jax.xla_flags")
      # bf16 needs oneDNN on CPU; the flags are per process, so the fp32 side then has them too
      xla_flags.configure(args.device, dtype="bfloat16" if "ours_bf16" in sides else "float32", cache=False)
    except ImportError:
      pass
  if args.label_ids == "auto":
    add_label_ids_to_conditioning()
  else:
    mod = importlib.import_module("spade_jax.nn.modulation")
    mod.USE_ONEHOT_LOOKUP = False
  load_before = os.getloadavg()
  t_start = time.time()

  official = None
  torch_info = None
  sides_built = {}
  off_args = official_args(args.crop, args.batch, args.ngf, args.ndf)
  if "official" in sides:
    official = OfficialProcess(os.path.abspath(args.torch_python), os.path.abspath(args.spade_dir),
                               args.device, off_args, args.omp_wait_policy)
    torch_info = official.call(cmd="info")
  configs = {}
  for s in sides:
    if s.startswith("ours"):
      dtype = "bfloat16" if s == "ours_bf16" else "float32"
      configs[s] = our_config(args.crop, args.batch, args.ngf, args.ndf, dtype)
      print(f"{s}: compiling ...", flush=True)
      sides_built[s] = Ours(configs[s])
      print(f"{s}: compiled in {sides_built[s].compile_s:.1f} s", flush=True)

  def run_side(s, n):
    return official.call(cmd="train", n=n)["ms"] if s == "official" else sides_built[s].train(n)

  times = {s: [] for s in sides}
  for s in sides:
    run_side(s, args.warmup)
  for r in range(args.rounds):
    for s in (sides if r % 2 == 0 else sides[::-1]):
      times[s] += run_side(s, args.iters)
    print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{s} {statistics.median(times[s]):.0f} ms"
                                                       for s in sides), flush=True)
  train = {s: summary(times[s], args.batch) for s in sides}
  for s in sides:
    if s != "official":
      train[s].update(compile_s=round(sides_built[s].compile_s, 2), init_s=round(sides_built[s].init_s, 2),
                      flops_per_iter=sides_built[s].flops, losses=sides_built[s].losses)
      if sides_built[s].flops:
        train[s]["gflop_per_s_best"] = round(sides_built[s].flops / train[s]["min_ms"] / 1e6, 2)
  ratios = {}
  if "official" in sides:
    for s in sides:
      if s != "official":
        ratios[f"{s}_vs_official"] = ratio(train["official"], train[s])
  del sides_built  # free the training states before the latency models

  latency = {}
  crops = [int(c) for c in args.latency_crops.split(",") if c]
  for crop in crops:
    lat_sides = {}
    for s in sides:
      if s.startswith("ours"):
        cfg = our_config(crop, 1, args.ngf, args.ndf, configs[s].dtype)
        print(f"latency {crop}: {s} compiling ...", flush=True)
        lat_sides[s] = OursLatency(cfg)
    lt = {s: [] for s in sides}
    for s in sides:  # warm-up (builds the official model at this size)
      (official.call(cmd="latency", crop=crop, n=1) if s == "official" else lat_sides[s].run(1))
    for r in range(args.latency_rounds):
      for s in (sides if r % 2 == 0 else sides[::-1]):
        lt[s] += (official.call(cmd="latency", crop=crop, n=args.latency_iters)["ms"] if s == "official"
                  else lat_sides[s].run(args.latency_iters))
    entry = {s: summary(lt[s], 1) for s in sides}
    for s in lat_sides:
      entry[s]["compile_s"] = round(lat_sides[s].compile_s, 2)
      if "official" in sides:
        entry[f"{s}_vs_official"] = ratio(entry["official"], entry[s])
    latency[str(crop)] = entry
    del lat_sides
    print(f"latency {crop}: " + ", ".join(f"{s} {entry[s]['median_ms']:.0f} ms" for s in sides), flush=True)
  if official is not None:
    official.close()

  import jax
  result = {
      "what": "our SPADE training iteration vs the official PyTorch one, interleaved in one process tree",
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "device": {"requested": args.device, "jax_platform": jax.devices()[0].platform,
                 "jax_device_kind": jax.devices()[0].device_kind, "jax_devices_used": 1,
                 "cpu": cpu_name(), "cpu_count": os.cpu_count(), "cpu_flags": cpu_flags(),
                 "host": platform.node()},
      "load_average_before": [round(x, 2) for x in load_before],
      "load_average_after": [round(x, 2) for x in os.getloadavg()],
      "wall_s": round(time.time() - t_start, 1),
      "versions": {"ours": our_versions(), "official": ({k: torch_info[k] for k in (
          "torch", "threads", "interop_threads", "mkldnn", "cudnn_benchmark")} if torch_info else None)},
      "config": {
          "shared": {"dataset": "ade20k (fake data of its shapes)", "crop": args.crop, "batch": args.batch,
                     "ngf": args.ngf, "ndf": args.ndf, "nhidden": 128, "num_D": 2, "n_layers_D": 4,
                     "dtype": "float32", "vgg_loss": False, "vae": False, "ema": False},
          "official_args": off_args,
          "official_params": torch_info["params"] if torch_info else None,
          "ours": {s: c.to_dict() for s, c in configs.items()},
          "schedule": {"rounds": args.rounds, "iters_per_round": args.iters, "warmup": args.warmup,
                       "latency_rounds": args.latency_rounds, "latency_iters": args.latency_iters},
      },
      "train": train,
      "ratios": ratios,
      "ratio_note": "official time / our time (> 1: ours is faster), from the medians and from the minima",
      "latency_g_forward_batch1": latency,
      "label_ids_lookup": args.label_ids,
      "official_omp_wait_policy": args.omp_wait_policy or "torch default",
      "note": args.note,
  }
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1, default=str)
    f.write("\n")
  print(json.dumps({"train": {s: train[s]["median_ms"] for s in sides}, "ratios": ratios,
                    "latency": {c: {s: v[s]["median_ms"] for s in sides} for c, v in latency.items()},
                    "out": args.out}))


if __name__ == "__main__":
  main()
