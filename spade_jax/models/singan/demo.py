"""The SinGAN CPU demo: one synthetic landscape (`spade_jax.data.synthetic`, rendered at full
resolution), trained at a reduced `max_size`, then random samples (one wider than the photo) and a
paint2image result from a crude painting (the landscape's label map filled with flat colours).

  python -m spade_jax.models.singan.demo --workdir runs/singan_demo --out docs [--niter 300 --max_size 64]

Writes `<out>/singan_samples.png`, `<out>/singan_paint2image.png` and `<workdir>/demo.json` (the
per-scale training times).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def crude_painting(label: np.ndarray, photo: np.ndarray) -> np.ndarray:
  """Each label region filled with the photo's mean colour there: a painting of flat colour blobs."""
  out = np.zeros_like(photo)
  for c in np.unique(label):
    m = label == c
    out[m] = photo[m].reshape(-1, 3).mean(0).astype(np.uint8)
  return out


def _tile(images, pad: int = 4) -> np.ndarray:
  h = max(i.shape[0] for i in images)
  cols = [np.pad(i, ((0, h - i.shape[0]), (0, pad), (0, 0)), constant_values=255) for i in images]
  return np.concatenate(cols, axis=1)


def main(argv=None) -> None:
  from PIL import Image

  from spade_jax.data.synthetic import make_sample
  from spade_jax.models.singan import commands, image, store, trainer
  from spade_jax.models.singan.config import Hyper

  p = argparse.ArgumentParser()
  p.add_argument("--workdir", default="runs/singan_demo")
  p.add_argument("--out", default="docs")
  p.add_argument("--size", type=int, default=256, help="the landscape's rendering size (square)")
  p.add_argument("--max_size", type=int, default=64)
  p.add_argument("--min_size", type=int, default=25)
  p.add_argument("--nfc", type=int, default=32)
  p.add_argument("--niter", type=int, default=300)
  p.add_argument("--paint_start_scale", type=int, default=2)
  p.add_argument("--unroll", type=int, choices=(0, 1), default=1)
  p.add_argument("--official_grad", type=int, choices=(0, 1), default=1,
                 help="1 (what the README's pictures and timings were made with): torch 1.4's G steps")
  a = p.parse_args(argv)

  sample = make_sample(0, "train", 0, (a.size, a.size))
  photo_u8, label = sample["image"], sample["label"]
  os.makedirs(a.workdir, exist_ok=True)
  os.makedirs(a.out, exist_ok=True)
  Image.fromarray(photo_u8).save(os.path.join(a.workdir, "photo.png"))
  t0 = time.perf_counter()
  pyr = trainer.train(image.uint8_to_image(photo_u8), a.workdir, Hyper(niter=a.niter, unroll=bool(a.unroll),
                                                                            official_grad=bool(a.official_grad)), min_size=a.min_size,
                      max_size=a.max_size, nfc=a.nfc, min_nfc=a.nfc, epochs_per_call=100, photo="synthetic landscape 0")
  train_s = time.perf_counter() - t0
  pyr = store.load_pyramid(a.workdir)
  t1 = time.perf_counter()
  samples = commands.random_samples(pyr, 4, seed=0)
  wide = commands.random_samples(pyr, 1, seed=1, scale_h=2.0)
  paint_u8 = crude_painting(label, photo_u8)
  out = commands.paint2image(pyr, image.uint8_to_image(paint_u8), a.paint_start_scale, seed=0)
  gen_s = time.perf_counter() - t1
  u8 = lambda x: image.image_to_uint8(x[None] if x.ndim == 3 else x)  # noqa: E731
  real = u8(pyr.real1)
  Image.fromarray(_tile([real] + [u8(s) for s in samples] + [u8(wide[0])])).save(
      os.path.join(a.out, "singan_samples.png"))
  h, w = real.shape[:2]
  paint_small = np.asarray(Image.fromarray(paint_u8).resize((w, h), Image.NEAREST))
  Image.fromarray(_tile([real, paint_small, u8(out)])).save(os.path.join(a.out, "singan_paint2image.png"))
  meta = store.read_meta(a.workdir)
  report = {"photo": f"synthetic landscape (seed 0, train 0) {a.size}x{a.size}", "max_size": a.max_size,
            "min_size": a.min_size, "nfc": a.nfc, "niter": a.niter, "unroll": bool(a.unroll), "scales": [list(s) for s in pyr.layout.shapes],
            "widths": [list(x) for x in pyr.layout.widths], "train_s_per_scale": meta["timings"],
            "train_s_total": train_s, "generation_s": gen_s, "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg()}
  with open(os.path.join(a.workdir, "demo.json"), "w") as f:
    json.dump(report, f, indent=1)
  print(json.dumps(report, indent=1))


if __name__ == "__main__":
  main()
