"""Drives the official PyTorch SPADE (a user's checkout of NVlabs/SPADE) for `bench/vs_official.py`.

Run by `vs_official.py` with the torch interpreter (not the project's venv):

    TORCH_PYTHON bench/official_worker.py --spade-dir PATH [--device cpu|cuda] -- OFFICIAL_TRAIN_ARGS...

It builds the official `Pix2PixTrainer` from the official option parser (`TrainOptions().parse()` on
the given arguments) and then answers one JSON command per line on stdin, one JSON reply per line on
its original stdout (the official code's own prints go to stderr):

  {"cmd": "info"}                          → versions, threads, parameter counts, the parsed options
  {"cmd": "train", "n": N}                 → {"ms": [N per-iteration times]} of
                                             `run_generator_one_step` + `run_discriminator_one_step`
  {"cmd": "latency", "crop": S, "n": N}    → {"ms": [...]} of the test-time forward
                                             (`model(data, mode='inference')` in eval mode, batch 1)
  {"cmd": "profile", "n": N}               → {"phases_ms": {...}, "ops": [...]} torch.profiler CPU time
                                             per phase and self-CPU time per aten op (ms / iteration)
  {"cmd": "quit"}

Nothing in the checkout is modified. When the checkout lacks its `sync_batchnorm` submodule, or
torchvision is not installed, stand-ins are put in `sys.modules` at run time: single-process
`SynchronizedBatchNorm2d` is `nn.BatchNorm2d` (the same computation on one device), and torchvision is
only reached by the VGG loss, which the benchmark turns off.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import types


def _install_stand_ins(spade_dir: str):
  import torch
  try:
    import torchvision  # noqa: F401
  except ImportError:
    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    tv.models = types.ModuleType("torchvision.models")
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tv.transforms,
                        "torchvision.models": tv.models})
  if not os.path.isfile(os.path.join(spade_dir, "models", "networks", "sync_batchnorm", "__init__.py")):
    sb = types.ModuleType("models.networks.sync_batchnorm")
    sb.SynchronizedBatchNorm2d = torch.nn.BatchNorm2d
    sb.DataParallelWithCallback = torch.nn.DataParallel
    sys.modules["models.networks.sync_batchnorm"] = sb


class Official:
  def __init__(self, spade_dir: str, device: str, train_args: list[str]):
    import torch
    self.torch = torch
    self.device = device
    spade_dir = os.path.abspath(spade_dir)
    sys.path.insert(0, spade_dir)
    _install_stand_ins(spade_dir)
    self.tmp = tempfile.mkdtemp(prefix="spade_official_")
    self.base_args = list(train_args) + ["--checkpoints_dir", self.tmp, "--name", "bench",
                                         "--dataroot", self.tmp,
                                         "--gpu_ids", "0" if device == "cuda" else "-1"]
    self.opt = self._parse(self.base_args)
    from trainers.pix2pix_trainer import Pix2PixTrainer
    torch.manual_seed(0)
    self.trainer = Pix2PixTrainer(self.opt)
    self.data = self._data(self.opt, self.opt.batchSize, seed=0)
    self._latency_models = {}

  def _parse(self, args):
    from options.train_options import TrainOptions
    argv = sys.argv
    try:
      sys.argv = ["train.py"] + args
      return TrainOptions().parse()
    finally:
      sys.argv = argv

  def _data(self, opt, batch, seed):
    torch = self.torch
    g = torch.Generator().manual_seed(seed)
    h = int(opt.crop_size / opt.aspect_ratio)
    w = opt.crop_size
    n_ids = opt.label_nc + (1 if opt.contain_dontcare_label else 0)
    label = torch.randint(0, n_ids, (batch, 1, h // 8, w // 8), generator=g)
    label = label.repeat_interleave(8, 2).repeat_interleave(8, 3).float()
    inst = torch.arange((h // 8) * (w // 8)).reshape(1, 1, h // 8, w // 8).repeat(batch, 1, 1, 1)
    inst = inst.repeat_interleave(8, 2).repeat_interleave(8, 3).float()
    image = torch.rand((batch, 3, h, w), generator=g) * 2 - 1
    return {"label": label, "instance": inst, "image": image, "path": [""] * batch}

  def _sync(self):
    if self.device == "cuda":
      self.torch.cuda.synchronize()

  def _batch(self, data):
    return {k: (v.clone() if hasattr(v, "clone") else v) for k, v in data.items()}

  def iteration(self):
    self.trainer.run_generator_one_step(self._batch(self.data))
    self.trainer.run_discriminator_one_step(self._batch(self.data))

  def train(self, n: int) -> list[float]:
    out = []
    for _ in range(n):
      self._sync()
      t0 = time.perf_counter()
      self.iteration()
      self._sync()
      out.append((time.perf_counter() - t0) * 1000)
    return out

  def latency(self, crop: int, n: int) -> list[float]:
    torch = self.torch
    if crop not in self._latency_models:
      args = [a for a in self.base_args]
      args += ["--crop_size", str(crop), "--load_size", str(crop), "--batchSize", "1"]
      opt = self._parse(args)
      from models.pix2pix_model import Pix2PixModel
      torch.manual_seed(0)
      model = Pix2PixModel(opt)
      model.eval()
      self._latency_models[crop] = (model, self._data(opt, 1, seed=1))
    model, data = self._latency_models[crop]
    out = []
    with torch.no_grad():
      for _ in range(n):
        self._sync()
        t0 = time.perf_counter()
        model(self._batch(data), mode="inference")
        self._sync()
        out.append((time.perf_counter() - t0) * 1000)
    return out

  def profile(self, n: int) -> dict:
    """torch.profiler over `n` iterations; `record_function` scopes are put at run time around each
    step, G's and D's forward, the Adam updates and spectral norm's `compute_weight`; a step's
    backward is its total minus those."""
    import importlib
    sn_mod = importlib.import_module("torch.nn.utils.spectral_norm")  # the module, not the function
    from torch.profiler import ProfilerActivity, profile, record_function
    m = self.trainer.pix2pix_model_on_one_gpu
    state = {"step": "g_step"}
    handles, scopes = [], {}

    def pre(name):
      def hook(module, inputs):
        scopes[name] = record_function(f"{state['step']}/{name}")
        scopes[name].__enter__()
      return hook

    def post(name):
      def hook(module, inputs, output):
        scopes.pop(name).__exit__(None, None, None)
      return hook

    for name, net in (("G fwd", m.netG), ("D fwd", m.netD)):
      handles += [net.register_forward_pre_hook(pre(name)), net.register_forward_hook(post(name))]
    orig_cw = sn_mod.SpectralNorm.compute_weight

    def compute_weight(self_, module, do_power_iteration):
      with record_function("spectral_norm"):
        return orig_cw(self_, module, do_power_iteration)
    sn_mod.SpectralNorm.compute_weight = compute_weight
    opt_steps = {}
    for key, opt in (("g_step", self.trainer.optimizer_G), ("d_step", self.trainer.optimizer_D)):
      opt_steps[key] = opt.step

      def step(*a, _orig=opt.step, _key=key, **k):
        with record_function(f"{_key}/adam"):
          return _orig(*a, **k)
      opt.step = step
    try:
      self.iteration()
      with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
          state["step"] = "g_step"
          with record_function("g_step"):
            self.trainer.run_generator_one_step(self._batch(self.data))
          state["step"] = "d_step"
          with record_function("d_step"):
            self.trainer.run_discriminator_one_step(self._batch(self.data))
    finally:
      for h in handles:
        h.remove()
      sn_mod.SpectralNorm.compute_weight = orig_cw
      self.trainer.optimizer_G.step, self.trainer.optimizer_D.step = opt_steps["g_step"], opt_steps["d_step"]
    ev = {e.key: e for e in prof.key_averages()}
    cpu = lambda k: ev[k].cpu_time_total / 1000 / n if k in ev else 0.0  # noqa: E731
    phases = {}
    for st in ("g_step", "d_step"):
      parts = {f"{st} {p}": cpu(f"{st}/{p}") for p in ("G fwd", "D fwd", "adam")}
      phases.update(parts)
      phases[f"{st} backward (rest)"] = cpu(st) - sum(parts.values())
    phases["spectral norm (inside the forwards)"] = cpu("spectral_norm")
    rows = []
    for e in prof.key_averages():
      if e.key.startswith(("g_step", "d_step", "spectral_norm", "ProfilerStep")):
        continue
      rows.append({"op": e.key, "count": e.count // n, "self_ms": round(e.self_cpu_time_total / 1000 / n, 2),
                   "total_ms": round(e.cpu_time_total / 1000 / n, 2)})
    rows.sort(key=lambda r: -r["self_ms"])
    return {"phases_ms": {k: round(v, 1) for k, v in phases.items()}, "ops": rows[:60],
            "torch": self.torch.__version__, "threads": self.torch.get_num_threads()}

  def info(self) -> dict:
    torch = self.torch
    m = self.trainer.pix2pix_model_on_one_gpu
    count = lambda net: sum(p.numel() for p in net.parameters()) if net is not None else 0  # noqa: E731
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(), "device": self.device,
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "cudnn_benchmark": bool(getattr(torch.backends.cudnn, "benchmark", False)),
            "params": {"G": count(m.netG), "D": count(m.netD), "E": count(m.netE)},
            "options": {k: v for k, v in sorted(vars(self.opt).items())
                        if isinstance(v, (int, float, str, bool, list))}}


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--spade-dir", required=True)
  p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
  p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = torch's default)")
  args, rest = p.parse_known_args()
  if rest and rest[0] == "--":
    rest = rest[1:]
  reply = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)  # the official code prints (options, network sizes): keep the reply channel clean
  sys.stdout = sys.stderr
  import torch
  if args.threads:
    torch.set_num_threads(args.threads)
  if args.device == "cuda":
    torch.backends.cudnn.benchmark = True  # the faster baseline (the official scripts leave it off)
  off = Official(args.spade_dir, args.device, rest)
  reply.write(json.dumps({"ready": True}) + "\n")
  for line in sys.stdin:
    cmd = json.loads(line)
    c = cmd["cmd"]
    if c == "quit":
      break
    if c == "info":
      out = off.info()
    elif c == "train":
      out = {"ms": off.train(int(cmd["n"]))}
    elif c == "latency":
      out = {"ms": off.latency(int(cmd["crop"]), int(cmd["n"]))}
    elif c == "profile":
      out = off.profile(int(cmd.get("n", 1)))
    else:
      out = {"error": f"unknown command {c!r}"}
    reply.write(json.dumps(out) + "\n")


if __name__ == "__main__":
  main()
