"""Our SEAN against the official PyTorch SEAN (ZPdesu/SEAN), side by side in one run: a training
iteration (G step + D step) and a synthesis call (eval-mode reconstruction: label map + style photo).

    .venv/bin/python bench/sean_vs_official.py [--sean-dir .anchors/SEAN] \
        [--torch-python .anchors/torch-venv/bin/python] [--crop 64 --batch 2 --ngf 32 --ndf 32] \
        [--rounds 3 --iters 2] [--out bench/results/sean_vs_official_cpu.json]

`--sean-dir` is a copy of the official code the user fetched (git-ignored `.anchors/SEAN`); nothing in
it is modified. The official side runs in a child process with torch (this file with `--worker`, which
drives the official `Pix2PixTrainer` / `Pix2PixModel` through `bench/official_worker.py`'s `Official`,
SEAN being a fork of SPADE with the same entry points), after run-time patches: `torch.Tensor.cuda` is
the identity (the official ACE calls `.cuda()` on its noise unconditionally), Adam gets its TTUR betas
`(0, 0.9)` as floats (this torch refuses the official int 0), `dill` is `pickle`, and torchvision is a
stand-in (only the VGG loss reaches it; off here). Both sides are built once, then timed interleaved
(per round `--iters` iterations of each side in turn, the order alternating), so both see the same
machine load.

Configuration: the CelebAMask-HQ layout (19 classes, no instance map: the official `custom` dataset
with `--label_nc 19 --no_instance`), the official hard-coded widths (style codes 512, SPADE branch 128,
19 style Linear layers per styled ACE layer, Zencoder ngf 32), `--ngf`/`--ndf` (32: a small config),
crop `--crop`, batch `--batch`, fp32, hinge + feature matching, TTUR Adam, no VGG loss. Also recorded:
the parameter counts of both at the official setting (ngf = ndf = 64, crop 256) and of the benchmarked
one, and peak memory (process peak RSS: the parent holds ours, compilation included; the child the
official; and XLA's own buffer sizes of our compiled step).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def official_args(crop: int, batch: int, ngf: int, ndf: int) -> list[str]:
  return ["--dataset_mode", "custom", "--label_dir", "unused", "--image_dir", "unused", "--label_nc", "19",
          "--no_instance", "--crop_size", str(crop), "--load_size", str(crop), "--aspect_ratio", "1",
          "--batchSize", str(batch), "--ngf", str(ngf), "--ndf", str(ndf), "--no_vgg_loss"]


# ----------------------------------------------------------------------------------------------------
# The official side (child process, torch)


def _sean_patches():
  import pickle
  import types

  import torch
  torch.Tensor.cuda = lambda self, *a, **k: self  # ACE.forward: randn(...).cuda()
  adam = torch.optim.Adam

  class Adam(adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), **kw):
      super().__init__(params, lr=lr, betas=tuple(float(b) for b in betas), **kw)
  torch.optim.Adam = Adam
  sys.modules.setdefault("dill", types.ModuleType("dill"))
  for name in ("dump", "load", "dumps", "loads", "HIGHEST_PROTOCOL"):
    setattr(sys.modules["dill"], name, getattr(pickle, name))


def worker_main(argv):
  p = argparse.ArgumentParser()
  p.add_argument("--sean-dir", required=True)
  p.add_argument("--threads", type=int, default=0)
  args, rest = p.parse_known_args(argv)
  rest = rest[1:] if rest and rest[0] == "--" else rest
  reply = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)  # the official code prints: keep the reply channel clean
  sys.stdout = sys.stderr
  import torch
  if args.threads:
    torch.set_num_threads(args.threads)
  _sean_patches()
  sys.path.insert(0, BENCH)
  from official_worker import Official
  off = Official(args.sean_dir, "cpu", rest)
  reply.write(json.dumps({"ready": True}) + "\n")
  for line in sys.stdin:
    cmd = json.loads(line)
    c = cmd["cmd"]
    if c == "quit":
      break
    if c == "info":
      out = off.info()
      out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elif c == "train":
      out = {"ms": off.train(int(cmd["n"]))}
    elif c == "latency":
      out = {"ms": off.latency(int(cmd["crop"]), int(cmd["n"]))}
    elif c == "count":  # parameter counts of netG / netD for other options (nothing trained)
      opt = off._parse(off.base_args + cmd["args"])
      import models.networks as networks
      count = lambda net: sum(x.numel() for x in net.parameters())  # noqa: E731
      out = {"G": count(networks.define_G(opt)), "D": count(networks.define_D(opt))}
    elif c == "rss":
      out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    else:
      out = {"error": f"unknown command {c!r}"}
    reply.write(json.dumps(out) + "\n")


def official_process(torch_python: str, sean_dir: str, train_args: list[str]):
  """`vs_official.OfficialProcess` (the JSON-lines pipe to a torch child) running this file's worker."""
  from vs_official import OfficialProcess

  class SEANProcess(OfficialProcess):
    def __init__(self):  # noqa: D107 - the parent's protocol, another child command
      if not os.path.isfile(os.path.join(sean_dir, "models", "networks", "architecture.py")):
        raise FileNotFoundError(f"--sean-dir {sean_dir}: not a copy of ZPdesu/SEAN (models/networks/"
                                "architecture.py is missing); fetch it into .anchors/SEAN")
      if not os.path.isfile(torch_python):
        raise FileNotFoundError(f"--torch-python {torch_python}: no such interpreter")
      self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "sean_vs_official_worker.log"), "w")
      self.p = subprocess.Popen([torch_python, os.path.abspath(__file__), "--worker", "--sean-dir", sean_dir, "--"]
                                + train_args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                text=True, bufsize=1)
      self._read()
  return SEANProcess()


# ----------------------------------------------------------------------------------------------------
# Our side


def our_config(crop: int, batch: int, ngf: int, ndf: int):
  from spade_jax.configs.common import complete
  from spade_jax.configs.sean.default import get_config
  c = get_config()
  c.data.name = "fake"
  c.data.label_nc, c.data.no_instance = 19, True
  c.data.crop_size = c.data.load_size = crop
  c.batch_size = batch
  c.model.ngf, c.model.ndf = ngf, ndf
  c.train.no_vgg_loss = True
  return complete(c)


class Ours:
  """The pure train step (G step + D step) jitted with the state donated, and the eval-mode synthesis."""

  def __init__(self, config, latency_crop: int):
    import jax
    import numpy as np
    from spade_jax import models
    from spade_jax.data.fake import FakeIterator
    self.jax = jax
    self.family = models.build(config)
    t0 = time.perf_counter()
    self.state = self.family.init_state(np.asarray(jax.random.PRNGKey(0)))
    jax.block_until_ready(self.state)
    self.init_s = time.perf_counter() - t0
    it = FakeIterator(config, "train")
    self.batches = [{k: jax.device_put(b[k]) for k in ("image", "label")} for b in (next(it), next(it))]
    step = jax.jit(self.family.train_step, donate_argnums=0)
    t0 = time.perf_counter()
    self.step = step.lower(self.state, self.batches[0]).compile()
    self.compile_s = time.perf_counter() - t0
    mem = self.step.memory_analysis()
    self.xla_memory_mb = None if mem is None else {
        k: round(getattr(mem, f"{k}_size_in_bytes") / 2**20, 1) for k in ("argument", "output", "temp")}
    self.i = 0
    # synthesis at batch 1: label map + style photo, eval mode (running statistics, noise on)
    lat_cfg = config.copy_and_resolve_references()
    lat_cfg.batch_size, lat_cfg.data.crop_size, lat_cfg.data.load_size = 1, latency_crop, latency_crop
    self.lat_family = models.build(lat_cfg)
    b = next(FakeIterator(lat_cfg, "val"))
    self.lat_inputs = {"label": jax.device_put(b["label"]), "style_image": jax.device_put(b["image"])}
    from spade_jax.gan.state import init_with_fast_prng
    variables, _ = init_with_fast_prng(self.lat_family.model.init, np.asarray(jax.random.PRNGKey(1)))
    self.lat_vars = {"G": variables["G"]}
    fwd = jax.jit(lambda v, x, k: self.lat_family.generate(v, x, k))
    t0 = time.perf_counter()
    self.fwd = fwd.lower(self.lat_vars, self.lat_inputs, jax.random.key(0)).compile()
    self.lat_compile_s = time.perf_counter() - t0

  def train(self, n: int) -> list[float]:
    out = []
    for _ in range(n):
      t0 = time.perf_counter()
      self.state, metrics = self.step(self.state, self.batches[self.i % 2])
      self.jax.block_until_ready(self.state)
      out.append((time.perf_counter() - t0) * 1000)
      self.i += 1
    self.losses = {k: float(v) for k, v in metrics.items()}
    return out

  def latency(self, n: int) -> list[float]:
    out = []
    for i in range(n):
      t0 = time.perf_counter()
      self.jax.block_until_ready(self.fwd(self.lat_vars, self.lat_inputs, self.jax.random.key(i)))
      out.append((time.perf_counter() - t0) * 1000)
    return out


def _count(tree) -> int:
  import jax
  import numpy as np
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def our_param_counts(config) -> dict:
  import jax
  from spade_jax.models.sean.model import SEANModel
  v = jax.eval_shape(lambda: SEANModel(config).init(jax.random.key(0)))
  return {"G": _count(v["G"]["params"]), "D": _count(v["D"]["params"])}


# ----------------------------------------------------------------------------------------------------


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--sean-dir", default=os.path.join(ROOT, ".anchors", "SEAN"))
  p.add_argument("--torch-python", default=os.path.join(ROOT, ".anchors", "torch-venv", "bin", "python"))
  p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "sean_vs_official_cpu.json"))
  p.add_argument("--crop", type=int, default=64)
  p.add_argument("--batch", type=int, default=2)
  p.add_argument("--ngf", type=int, default=32)
  p.add_argument("--ndf", type=int, default=32)
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--iters", type=int, default=2, help="iterations per side per round")
  p.add_argument("--warmup", type=int, default=1)
  p.add_argument("--latency-crop", type=int, default=64)
  p.add_argument("--latency-iters", type=int, default=3)
  p.add_argument("--note", default="")
  args = p.parse_args(argv)
  sys.path.insert(0, BENCH)
  from vs_official import cpu_flags, cpu_name, our_versions, ratio, summary
  try:
    from spade_jax import xla_flags
    xla_flags.configure("cpu", cache=False)  # the entry points' XLA settings
  except ImportError:
    pass
  load_before = os.getloadavg()
  t_start = time.time()
  off_args = official_args(args.crop, args.batch, args.ngf, args.ndf)
  official = official_process(os.path.abspath(args.torch_python), os.path.abspath(args.sean_dir), off_args)
  info = official.call(cmd="info")
  official_counts = official.call(cmd="count", args=official_args(256, 1, 64, 64))
  config = our_config(args.crop, args.batch, args.ngf, args.ndf)
  counts = {"official_setting": {"official": official_counts, "ours": our_param_counts(our_config(256, 1, 64, 64))},
            "benchmarked": {"official": info["params"], "ours": our_param_counts(config)}}
  print(f"parameter counts: {counts}", flush=True)
  print("ours: compiling ...", flush=True)
  ours = Ours(config, args.latency_crop)
  print(f"ours: compiled in {ours.compile_s:.1f} s (synthesis {ours.lat_compile_s:.1f} s)", flush=True)

  sides = ("ours", "official")
  run = {"ours": ours.train, "official": lambda n: official.call(cmd="train", n=n)["ms"]}
  times = {s: [] for s in sides}
  for s in sides:
    run[s](args.warmup)
  for r in range(args.rounds):
    for s in (sides if r % 2 == 0 else sides[::-1]):
      times[s] += run[s](args.iters)
    print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{s} {statistics.median(times[s]):.0f} ms" for s in sides),
          flush=True)
  train = {s: summary(times[s], args.batch) for s in sides}
  train["ours"].update(compile_s=round(ours.compile_s, 2), init_s=round(ours.init_s, 2), losses=ours.losses)

  lat_run = {"ours": ours.latency,
             "official": lambda n: official.call(cmd="latency", crop=args.latency_crop, n=n)["ms"]}
  lat = {s: [] for s in sides}
  for s in sides:
    lat_run[s](1)
  for r in range(2):
    for s in (sides if r % 2 == 0 else sides[::-1]):
      lat[s] += lat_run[s](args.latency_iters)
  latency = {s: summary(lat[s], 1) for s in sides}
  latency["ours"]["compile_s"] = round(ours.lat_compile_s, 2)
  official_rss = official.call(cmd="rss")["peak_rss_mb"]
  official.close()

  import jax
  result = {
      "what": "SEAN: our training iteration and synthesis call vs the official PyTorch SEAN, interleaved",
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "device": {"jax_platform": jax.devices()[0].platform, "jax_device_kind": jax.devices()[0].device_kind,
                 "cpu": cpu_name(), "cpu_count": os.cpu_count(), "cpu_flags": cpu_flags(), "host": platform.node()},
      "load_average_before": [round(x, 2) for x in load_before],
      "load_average_after": [round(x, 2) for x in os.getloadavg()],
      "wall_s": round(time.time() - t_start, 1),
      "versions": {"ours": our_versions(),
                   "official": {k: info[k] for k in ("torch", "threads", "interop_threads", "mkldnn")},
                   "official_code": "ZPdesu/SEAN@04c7536 (run-time patches: see the script's docstring)"},
      "config": {"layout": "CelebAMask-HQ (label_nc 19, no instance map)", "crop": args.crop, "batch": args.batch,
                 "ngf": args.ngf, "ndf": args.ndf, "style_length": 512, "nhidden": 128, "style_linears": 19,
                 "num_D": 2, "n_layers_D": 3, "dtype": "float32", "vgg_loss": False,
                 "official_args": off_args, "schedule": {"rounds": args.rounds, "iters": args.iters,
                                                         "warmup": args.warmup}},
      "parameter_counts": counts,
      "train_iteration": train,
      "synthesis_batch1": {"crop": args.latency_crop, **latency},
      "ratios": {"train_iteration": ratio(train["official"], train["ours"]),
                 "synthesis": ratio(latency["official"], latency["ours"])},
      "ratio_note": "official time / our time (> 1: ours is faster), from the medians and from the minima",
      "peak_memory_mb": {"ours_process_rss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                         "ours_xla_train_step": ours.xla_memory_mb, "official_process_rss": round(official_rss, 1)},
      "note": args.note,
  }
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1, default=str)
    f.write("\n")
  print(json.dumps({"ratios": result["ratios"], "train_median_ms": {s: train[s]["median_ms"] for s in sides},
                    "synthesis_median_ms": {s: latency[s]["median_ms"] for s in sides}, "out": args.out}))


if __name__ == "__main__":
  if len(sys.argv) > 1 and sys.argv[1] == "--worker":
    worker_main(sys.argv[2:])
  else:
    main()
