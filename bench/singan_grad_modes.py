"""SinGAN's two G-step modes on one image (#16): `official_grad=True` (torch 1.4's backward through the
previous forward, what every published result used) against `official_grad=False` (a fresh forward per
G step), same photo, seeds and budget; SIFID of random samples against the photo and the training time.

    .venv/bin/python bench/singan_grad_modes.py [--max_size 48 --niter 200 --samples 20]

The photo is the SinGAN demo's (synthetic landscape 0 at 256x256). SIFID uses the FID Inception's first
block (the variant that works without torchvision's weights: `spade_jax.models.singan.sifid`); lower is
closer to the photo's patch statistics. Writes `bench/results/singan_grad_modes.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--max_size", type=int, default=48)
  p.add_argument("--min_size", type=int, default=25)
  p.add_argument("--nfc", type=int, default=32)
  p.add_argument("--niter", type=int, default=200)
  p.add_argument("--samples", type=int, default=20)
  p.add_argument("--workdir", default=os.path.join(ROOT, "runs", "singan_grad_modes"))
  p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "singan_grad_modes.json"))
  a = p.parse_args(argv)
  from spade_jax import xla_flags
  xla_flags.configure(cache=False)
  import jax
  from spade_jax.data.synthetic import make_sample
  from spade_jax.models.singan import commands, image, sifid, store, trainer
  from spade_jax.models.singan.config import Hyper

  photo_u8 = make_sample(0, "train", 0, (256, 256))["image"]
  block0 = sifid.load_fid_block0()
  record = {"what": __doc__.split("\n\n")[0], "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "device": {"platform": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                       "jax": jax.__version__},
            "config": vars(a), "load_average_before": os.getloadavg(), "modes": {}}
  for official in (True, False):
    name = "official_grad" if official else "recompute"
    work = os.path.join(a.workdir, name)
    t0 = time.perf_counter()
    trainer.train(image.uint8_to_image(photo_u8), work, Hyper(niter=a.niter, official_grad=official),
                  min_size=a.min_size, max_size=a.max_size, nfc=a.nfc, min_nfc=a.nfc, epochs_per_call=100,
                  photo="synthetic landscape 0")
    train_s = time.perf_counter() - t0
    pyr = store.load_pyramid(work)
    real01 = (np.asarray(pyr.real1)[0] + 1) / 2
    fakes = commands.random_samples(pyr, a.samples, seed=0)
    scores = sifid.sifid_many(block0, real01, [(np.asarray(f) + 1) / 2 for f in fakes])
    record["modes"][name] = {"train_s": round(train_s, 1), "sifid_mean": float(np.mean(scores)),
                             "sifid_median": float(np.median(scores)), "sifid_std": float(np.std(scores)),
                             "sifid": [round(float(s), 5) for s in scores]}
    print(name, json.dumps({k: v for k, v in record["modes"][name].items() if k != "sifid"}), flush=True)
  record["load_average_after"] = os.getloadavg()
  m = record["modes"]
  record["sifid_mean_ratio_recompute_over_official"] = m["recompute"]["sifid_mean"] / m["official_grad"]["sifid_mean"]
  os.makedirs(os.path.dirname(a.out), exist_ok=True)
  with open(a.out, "w") as f:
    json.dump(record, f, indent=1)
  print(f"→ {a.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
