"""Segmentation-based metrics (mIoU, pixel accuracy): training the synthetic-data segmenter, saving /
loading it, and scoring images against ground-truth label maps.

    python -m spade_jax.evaluate.segmentation --config configs/spade/synthetic.py --out weights/segmenter_synthetic

trains the U-Net on the *real* training images of `config.data` at the generator's resolution and
writes `params.npz` + `meta.json` (its mIoU / accuracy on the real val images: the ceiling that
generated images are compared with). The don't-care id (`label_nc` with `contain_dontcare_label`) is
ignored in training and scoring.
"""

from __future__ import annotations

import json
import os

import time
from typing import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from spade_jax import errors
from spade_jax.evaluate.metrics import confusion_matrix, scores
from spade_jax.evaluate.nets.segmenter import UNetSegmenter


def num_classes(config) -> int:
  return int(config.data.label_nc)


def _masked_ce(logits, labels, nc):
  valid = (labels >= 0) & (labels < nc)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(valid, labels, 0))
  return jnp.sum(ce * valid) / jnp.maximum(jnp.sum(valid), 1)


def _log(msg: str) -> None:
  print(msg, flush=True)


def train_segmenter(batches: Iterator[dict], nc: int, steps: int, *, lr: float = 2e-3, width: int = 32,
                    seed: int = 0, log=_log) -> dict:
  """Adam + cosine decay on `{"image", "label"}` batches; returns the segmenter's variables."""
  net = UNetSegmenter(nc, width)
  first = next(batches)
  params = jax.jit(net.init)(jax.random.key(seed), jnp.asarray(first["image"][:1]))
  tx = optax.adam(optax.cosine_decay_schedule(lr, steps))
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, image, label):
    loss, g = jax.value_and_grad(lambda p: _masked_ce(net.apply(p, image), label, nc))(params)
    upd, opt = tx.update(g, opt, params)
    return optax.apply_updates(params, upd), opt, loss

  t0 = time.time()
  batch = first
  for i in range(steps):
    params, opt, loss = step(params, opt, jnp.asarray(batch["image"]), jnp.asarray(batch["label"]))
    if (i + 1) % max(1, steps // 10) == 0 or i + 1 == steps:
      rate = (i + 1) / (time.time() - t0)
      log(f"segmenter step {i + 1}/{steps}  loss {float(loss):.4f}  {rate:.1f} steps/s  "
          f"ETA {(steps - i - 1) / rate:.0f}s")
    if i + 1 < steps:
      batch = next(batches)
  return params


def make_predict(variables: dict, nc: int, width: int = 32):
  net = UNetSegmenter(nc, width)
  return jax.jit(lambda images: jnp.argmax(net.apply(variables, images), -1))


def confusion(predict, batches: Iterable[dict], nc: int, images_key: str = "image") -> np.ndarray:
  """Accumulated confusion over `batches` (rows with `mask=False` skipped; ids ≥ nc — the don't-care
  id — ignored)."""
  conf = np.zeros((nc, nc), np.int64)
  for b in batches:
    pred = np.asarray(predict(jnp.asarray(b[images_key])))
    keep = np.asarray(b.get("mask", np.ones(len(pred), bool)), bool)
    gt = np.asarray(b["label"])[keep]
    conf += confusion_matrix(np.where(gt >= nc, -1, gt), pred[keep], nc, ignore_index=-1)
  return conf


def score(predict, batches: Iterable[dict], nc: int) -> dict:
  return scores(confusion(predict, batches, nc))


def save(out_dir: str, variables: dict, meta: dict) -> None:
  os.makedirs(out_dir, exist_ok=True)
  flat = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
  np.savez(os.path.join(out_dir, "params.npz"), **{k: np.asarray(v) for k, v in flat.items()})
  with open(os.path.join(out_dir, "meta.json"), "w") as f:
    json.dump(meta, f, indent=2)


def load(out_dir: str) -> tuple[dict, dict]:
  p, m = os.path.join(out_dir, "params.npz"), os.path.join(out_dir, "meta.json")
  if not (os.path.isfile(p) and os.path.isfile(m)):
    raise FileNotFoundError(f"segmenter not found in {out_dir} (params.npz + meta.json); train it with "
                            f"`python -m spade_jax.evaluate.segmentation --config CONFIG --out {out_dir}`")
  with np.load(p) as f:
    variables = traverse_util.unflatten_dict({k: jnp.asarray(f[k]) for k in f.files}, sep="/")
  with open(m) as f:
    return variables, json.load(f)


DEEPLAB_SUFFIXES = (".pth", ".pt", ".npz")


def _quantize(images: jax.Array) -> jax.Array:
  """[-1, 1] → the uint8 values a saved PNG holds (`synthesize.to_uint8`: clipped, truncated) → [-1, 1]."""
  return jnp.floor(jnp.clip((images + 1.0) * 127.5, 0.0, 255.0)) / 127.5 - 1.0


def load_segmenter(path: str, *, n_blocks=None) -> tuple[Callable, dict]:
  """The mIoU segmenter at `path` → `(predict, meta)`: `predict(images [B, H, W, 3] in [-1, 1])` →
  int class ids `[B, H, W]`; `meta` has `kind`, `num_classes`, `weights_file` (the file to hash) and
  `real_val_miou` / `real_val_pixel_acc` (None when unknown).

  Two kinds:
    * a directory with `params.npz` + `meta.json`: our U-Net (synthetic data; `python -m
      spade_jax.evaluate.segmentation`);
    * a `.pth` / `.pt` / `.npz` file: DeepLabV2, the paper's COCO-Stuff segmenter, i.e. kazuto1011/
      deeplab-pytorch's `deeplabv2_resnet101_msc-cocostuff164k-100000.pth` (182 classes;
      `spade_jax.evaluate.nets.deeplab_convert`; `n_blocks` other than ResNet-101's only for tests).

  COCO-Stuff protocol with DeepLabV2 (the paper released no eval code; this follows
  SMIS#6 / CC-FPSE#4): the 5,000 val2017 images; each generated image is segmented at the generated
  resolution (256×256), after the same uint8 quantisation as the saved PNGs, with the original's
  test-time processing (BGR, 0–255 minus the mean, max over scales 1, 0.75, 0.5, logits resized
  bilinearly with `align_corners=False` to 256×256, argmax); the ground-truth label maps are resized
  with nearest neighbour to 256×256 (the data pipeline's official preprocessing); label 255 (unlabeled,
  mapped to the don't-care id 182 by the pipeline) is ignored; the confusion matrix is accumulated over
  the split and mIoU averages the classes with a non-empty union (`metrics.scores`).
  """
  if path.endswith(DEEPLAB_SUFFIXES) and not os.path.isdir(path):
    from spade_jax.evaluate.nets.deeplab_convert import RESNET101_BLOCKS, load_deeplabv2
    module, variables = load_deeplabv2(path, n_blocks=n_blocks or RESNET101_BLOCKS)
    apply = jax.jit(lambda v, images: jnp.argmax(module.apply(v, _quantize(images)), -1))
    meta = {"kind": "deeplabv2", "num_classes": int(module.num_classes), "weights_file": path,
            "msc_scales": [1.0, *module.msc_scales], "real_val_miou": None, "real_val_pixel_acc": None}
    return (lambda images: apply(variables, images)), meta
  variables, meta = load(path)
  predict = make_predict(variables, meta["num_classes"], meta.get("width", 32))
  return predict, {**meta, "kind": "unet", "weights_file": os.path.join(path, "params.npz")}


def main(argv=None) -> int:
  import argparse
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--config", required=True, help="config file, e.g. configs/spade/synthetic.py")
  ap.add_argument("--out", required=True, help="output directory for params.npz + meta.json")
  ap.add_argument("--steps", type=int, default=600)
  ap.add_argument("--batch-size", type=int, default=8)
  ap.add_argument("--width", type=int, default=16)
  errors.add_verbose_flag(ap)
  args = ap.parse_args(argv)
  from spade_jax.configs.load import load_file
  config = load_file(args.config)
  config.batch_size = args.batch_size
  from spade_jax.data.pipeline import make_iterator
  nc = num_classes(config)
  t0 = time.time()
  params = train_segmenter(iter(make_iterator(config, "train")), nc, args.steps, width=args.width)
  real = score(make_predict(params, nc, args.width), make_iterator(config, "val"), nc)
  meta = {"num_classes": nc, "width": args.width, "steps": args.steps, "batch_size": args.batch_size,
          "resolution": [round(config.data.crop_size / config.data.aspect_ratio), config.data.crop_size],
          "dataset": config.data.name, "real_val_miou": real["miou"], "real_val_pixel_acc": real["pixel_acc"],
          "train_seconds": round(time.time() - t0, 1)}
  save(args.out, params, meta)
  print(f"segmenter saved to {args.out}: real val mIoU {real['miou']:.4f}, pixel acc {real['pixel_acc']:.4f}")
  return 0


if __name__ == "__main__":
  errors.run_main(main)
