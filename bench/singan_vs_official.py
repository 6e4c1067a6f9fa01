"""One SinGAN scale's training epochs: ours (JAX, `ScaleTrainer.run_keys`: one jitted epoch per dispatch
on CPU, a `lax.scan` of epochs on accelerators) vs the official
PyTorch `training.train_single_scale` (tamarott/SinGAN files under `.anchors/SinGAN`, run on the CPU
with torch in `.anchors/torch-venv`), side by side in one run, interleaved A B A B.

Both train the same scale of the same pyramid (a synthetic photo, the official defaults except the
sizes given here) with Dsteps = Gsteps = 3. The official run gets torch 1.4's optimiser semantics
(Adam writing through `p.data`, as the parity fixture does), without which torch >= 1.5 stops at the
second G step; ours runs `official_grad=True` (the same algorithm). Coarser scales are freshly
initialised generators in eval mode (the time does not depend on their weights). The timed official
call includes its two snapshot PNGs and its final `torch.save` (a few ms); ours excludes compilation
(reported separately, with the first epoch).

  .venv/bin/python bench/singan_vs_official.py [--max_size 128 --epochs 20 --repeats 2]
writes bench/results/singan_vs_official.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHOR = os.path.join(REPO, ".anchors", "SinGAN")
TORCH_PY = os.path.join(REPO, ".anchors", "torch-venv", "bin", "python")


def synthetic_photo(h: int, w: int):
  import numpy as np
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
  r = 128 + 90 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
  g = 120 + 80 * np.cos((xx + 2 * yy) / 17.0)
  b = 110 + 70 * np.sin((3 * xx - yy) / 23.0)
  disc = ((xx - w * 0.6) ** 2 + (yy - h * 0.4) ** 2) < (0.18 * min(h, w)) ** 2
  img = np.stack([r, g, b], -1)
  img[disc] = (230, 200, 60)
  return img.clip(0, 255).astype(np.uint8)


# ---------------------------------------------------------------- official (torch venv) child
def official_child(spec_path: str) -> None:
  import types

  import numpy as np
  import torch
  sys.path.insert(0, ANCHOR)
  from SinGAN import functions, models, training

  spec = json.load(open(spec_path))
  torch.set_num_threads(spec["threads"])
  torch.manual_seed(0)

  class Adam14(torch.optim.Adam):
    """torch 1.4's Adam: the update is written through p.data (no autograd version bump)."""

    @torch.no_grad()
    def step(self, closure=None):
      for group in self.param_groups:
        b1, b2 = group["betas"]
        for p in group["params"]:
          if p.grad is None:
            continue
          st = self.state[p]
          if len(st) == 0:
            st["step"] = 0
            st["exp_avg"] = torch.zeros_like(p.data)
            st["exp_avg_sq"] = torch.zeros_like(p.data)
          st["step"] += 1
          g = p.grad.data
          st["exp_avg"].mul_(b1).add_(g, alpha=1 - b1)
          st["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
          denom = (st["exp_avg_sq"].sqrt() / math.sqrt(1 - b2 ** st["step"])).add_(group["eps"])
          p.data.addcdiv_(st["exp_avg"], denom, value=-group["lr"] / (1 - b1 ** st["step"]))

  training.optim = types.SimpleNamespace(Adam=Adam14)
  out = tempfile.mkdtemp()
  o = spec["opt"]
  opt = types.SimpleNamespace(mode="train", ker_size=3, num_layer=5, stride=1, nc_z=3, nc_im=3, padd_size=0,
                              device=torch.device("cpu"), not_cuda=True, netG="", netD="", outf=out, **o)
  reals = [torch.from_numpy(np.asarray(r, np.float32)) for r in spec["reals"]]
  n = spec["n"]
  Gs, Zs = [], []
  for i in range(n):
    opt.nfc, opt.min_nfc = spec["widths"][i]
    g = models.GeneratorConcatSkip2CleanAdd(opt)
    g.apply(models.weights_init)
    g = functions.reset_grads(g, False)
    g.eval()
    Gs.append(g)
    h, w = reals[i].shape[2:]
    z = torch.randn(1, 1, h, w).expand(1, 3, h, w) if i == 0 else torch.zeros(1, 3, h, w)
    Zs.append(torch.nn.functional.pad(z, (5, 5, 5, 5)))
  amps = [1] + [torch.tensor(0.05)] * (n - 1)
  opt.nfc, opt.min_nfc = spec["widths"][n]
  in_s = torch.zeros_like(reals[0])
  times = []
  for _ in range(spec["repeats"]):
    netG = models.GeneratorConcatSkip2CleanAdd(opt)
    netG.apply(models.weights_init)
    netD = models.WDiscriminator(opt)
    netD.apply(models.weights_init)
    devnull = open(os.devnull, "w")
    old = sys.stdout
    sys.stdout = devnull
    t0 = time.perf_counter()
    training.train_single_scale(netD, netG, reals, Gs, Zs, in_s, amps, opt)
    times.append(time.perf_counter() - t0)
    sys.stdout = old
  print(json.dumps({"times": times, "torch": torch.__version__, "threads": torch.get_num_threads()}))


# ---------------------------------------------------------------- ours
def ours_runner(layout, hp, n, reals, epochs):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from spade_jax.models.singan import coarse, init
  from spade_jax.models.singan.scale import ScaleTrainer

  t = ScaleTrainer(layout, hp, n)
  nets = coarse.generators(layout, n)
  Gs = [init.official_init(jax.random.key(10 + i), g) for i, g in enumerate(nets)]
  Zs = []
  for i in range(n):
    h, w = layout.shapes[i]
    z = jnp.broadcast_to(jax.random.normal(jax.random.key(i), (1, h, w, 1)), (1, h, w, 3)) if i == 0 \
        else jnp.zeros((1, h, w, 3))
    Zs.append(jnp.pad(z, ((0, 0), (5, 5), (5, 5), (0, 0))))
  amps = [1.0] + [0.05] * (n - 1)
  keys = jax.random.split(jax.random.key(1), epochs)
  t0 = time.perf_counter()
  carry, ctx = t.setup(jax.random.key(0), jnp.asarray(reals[n]), Gs, Zs, amps)
  jax.block_until_ready(carry)
  setup = time.perf_counter() - t0
  t0 = time.perf_counter()
  jax.block_until_ready(t.run_keys(carry, ctx, keys[:1]))  # compiles (one epoch per dispatch on CPU)
  compile_s = time.perf_counter() - t0

  def run():
    t0 = time.perf_counter()
    c, losses = t.run_keys(carry, ctx, keys)
    jax.block_until_ready(c)
    assert np.isfinite(np.asarray(losses["errD"])).all()
    return time.perf_counter() - t0
  return run, setup, compile_s


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--official-child", default=None, help=argparse.SUPPRESS)
  p.add_argument("--photo_hw", default="96,128")
  p.add_argument("--max_size", type=int, default=128)
  p.add_argument("--min_size", type=int, default=25)
  p.add_argument("--nfc", type=int, default=32)
  p.add_argument("--scale", type=int, default=-1, help="which scale (default: the finest)")
  p.add_argument("--epochs", type=int, default=20)
  p.add_argument("--repeats", type=int, default=2)
  p.add_argument("--threads", type=int, default=os.cpu_count())
  p.add_argument("--out", default=os.path.join(REPO, "bench", "results", "singan_vs_official.json"))
  a = p.parse_args()
  if a.official_child:
    official_child(a.official_child)
    return

  import jax
  import numpy as np

  from spade_jax.models.singan import pyramid as pyr
  from spade_jax.models.singan.config import Hyper
  from spade_jax.models.singan.image import uint8_to_image
  from spade_jax.models.singan.trainer import plan_layout

  h, w = map(int, a.photo_hw.split(","))
  photo = uint8_to_image(synthetic_photo(h, w))
  results = {}
  for grad in (True, False):
    hp = Hyper(niter=a.epochs, official_grad=grad)
    plan, layout, real, reals = plan_layout(photo, hp, a.min_size, a.max_size, 0.75, a.nfc, a.nfc)
    n = a.scale % layout.num_scales
    run, setup_s, compile_s = ours_runner(layout, hp, n, reals, a.epochs)
    results["official_grad" if grad else "recompute"] = {"run": run, "setup_s": setup_s, "compile_s": compile_s}
  spec = {"threads": a.threads, "repeats": 1, "n": n, "widths": [list(x) for x in layout.widths],
          "reals": [np.transpose(np.asarray(r), (0, 3, 1, 2)).tolist() for r in reals[:n + 1]],
          "opt": {"lr_d": 0.0005, "lr_g": 0.0005, "beta1": 0.5, "gamma": 0.1, "niter": a.epochs, "Dsteps": 3,
                  "Gsteps": 3, "lambda_grad": 0.1, "alpha": 10, "noise_amp_init": 0.1,
                  "scale_factor": layout.scale_factor}}
  spec_path = os.path.join(tempfile.mkdtemp(), "spec.json")
  json.dump(spec, open(spec_path, "w"))
  ours, ours_recompute, official, official_meta = [], [], [], {}
  loads = [os.getloadavg()]
  for _ in range(a.repeats):  # interleaved: ours, official, ours (recompute)
    ours.append(results["official_grad"]["run"]())
    res = subprocess.run([TORCH_PY, os.path.abspath(__file__), "--official-child", spec_path],
                         capture_output=True, text=True, cwd=REPO)
    if res.returncode != 0:
      raise SystemExit(f"official run failed: {res.stderr.strip().splitlines()[-1:]}")
    child = json.loads(res.stdout.strip().splitlines()[-1])
    official += child["times"]
    official_meta = {"torch": child["torch"], "threads": child["threads"]}
    ours_recompute.append(results["recompute"]["run"]())
    loads.append(os.getloadavg())
  per_epoch = lambda ts: [t / a.epochs for t in ts]
  summary = lambda ts: {"min_s_per_epoch": min(per_epoch(ts)), "median_s_per_epoch": float(np.median(per_epoch(ts))),
                        "runs_s": ts}
  out = {
      "what": "one SinGAN scale's training epochs (Dsteps=Gsteps=3, WGAN-GP, reconstruction), ours vs official",
      "device": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (jax {jax.devices()[0].platform})",
      "versions": {"jax": jax.__version__, "python": platform.python_version(), **official_meta},
      "config": {"photo_hw": [h, w], "max_size": a.max_size, "min_size": a.min_size, "nfc": a.nfc,
                 "scale": n, "scale_hw": list(layout.shapes[n]), "widths": list(layout.widths[n]),
                 "coarser_scales": n, "epochs_per_run": a.epochs, "repeats": a.repeats},
      "load_average_1_5_15": loads,
      "ours_official_grad": {**summary(ours), "compile_s": results["official_grad"]["compile_s"]},
      "ours_recompute": {**summary(ours_recompute), "compile_s": results["recompute"]["compile_s"]},
      "official_torch": summary(official),
  }
  out["ratio_official_over_ours_min"] = out["official_torch"]["min_s_per_epoch"] / out["ours_official_grad"]["min_s_per_epoch"]
  out["ratio_official_over_ours_median"] = (out["official_torch"]["median_s_per_epoch"] /
                                            out["ours_official_grad"]["median_s_per_epoch"])
  os.makedirs(os.path.dirname(a.out), exist_ok=True)
  with open(a.out, "w") as f:
    json.dump(out, f, indent=1)
  print(json.dumps({k: out[k] for k in ("config", "ours_official_grad", "ours_recompute", "official_torch",
                                        "ratio_official_over_ours_min", "ratio_official_over_ours_median")}, indent=1))


if __name__ == "__main__":
  main()
