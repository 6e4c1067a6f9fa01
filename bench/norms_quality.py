"""Quality of the normalization variants: same data, same budget, same scoring (issue #7, part 3).

    .venv/bin/python -m spade_jax.evaluate.segmentation --config configs/spade/synthetic.py \
        --out weights/segmenter_synthetic                                   # once: the mIoU segmenter
    .venv/bin/python bench/norms_quality.py --steps 3000 --segmenter_dir weights/segmenter_synthetic \
        [--variants batch,spade,clade,...] [--config.data.crop_size=128 --config.batch_size=16 ...]
    .venv/bin/python bench/norms.py --quality bench/results/norms_quality_synthetic_<platform>.json

Every variant is trained from the same seed for `--steps` iterations of the pure `train_step` (G step +
D step, official hyper-parameters, `train.no_vgg_loss=True`) on the embedded synthetic dataset
(`configs/spade/synthetic.py` by default: 10 classes, instance maps; rendered on first use; no EMA: the trained
weights are scored), then scored by the
evaluation harness, `spade_jax.evaluate.loop.evaluate_generator` (FID on the validation split; mIoU /
pixel accuracy with `--segmenter_dir`); each variant's `metrics.json` goes to `--out_dir/<variant>`.
SEAN reads its style codes from the paired real image at evaluation (reconstruction setting, as in
the SEAN paper; ZPdesu/SEAN `models/networks/normalization.py`: `ACE`): the harness passes the real image to every generator.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", os.path.join(ROOT, "configs", "synthetic.py"),
                                "Base config; the dataset is forced to the synthetic one.")
flags.DEFINE_string("variants", "batch,instance,group,spade,clade,clade_icpe,sean", "Comma-separated.")
flags.DEFINE_integer("steps", 3000, "Training iterations per variant.")
flags.DEFINE_string("fid_weights", "", "FID Inception weights (default: the harness's, from "
                    "scripts/fetch_fid_weights.sh).")
flags.DEFINE_string("segmenter_dir", "", "Synthetic-data segmenter for mIoU (python -m "
                    "spade_jax.evaluate.segmentation --config configs/spade/synthetic.py --out DIR); no mIoU without.")
flags.DEFINE_string("out_dir", os.path.join(ROOT, "runs", "norms_quality"), "Per-variant metrics.json.")
flags.DEFINE_integer("log_every", 100, "Print losses every N steps.")
flags.DEFINE_string("json", "", "Output (default bench/results/norms_quality_synthetic_<platform>.json).")


def synthetic_config(base, norm: str):
  c = base.copy_and_resolve_references()
  c.unlock()
  c.data.name, c.data.label_nc = "synthetic", 10
  c.data.contain_dontcare_label, c.data.no_instance = False, False
  c.model.norm = "spade" if norm == "spade5x5" else norm
  if norm == "spade5x5":
    c.model.norm_G = re.sub(r"\d+x\d+$", "5x5", c.model.norm_G)
  c.train.no_vgg_loss = True  # the VGG loss needs the training loop's VGG wiring (train.py)
  c.train.ema_decay = 0.0  # every variant is scored on its trained weights (no EMA copy)
  c.model.use_vae = False  # the normalization is the variable: no VAE (SEAN brings its own encoder)
  c.model.sean_style_dim = min(512, 4 * int(c.model.ngf))  # SEAN's 512 is sized for ngf 64
  c.total_steps = FLAGS.steps
  return c


def train_and_score(config, name: str) -> dict:
  import jax
  from spade_jax.data import pipeline
  from spade_jax.evaluate.loop import evaluate_generator
  from spade_jax import models
  family = models.build(config)

  keys = ("label", "instance", "image")
  state = family.init_state(jax.random.PRNGKey(config.seed))
  step = jax.jit(family.train_step, donate_argnums=0)
  it = pipeline.make_iterator(config, "train", process_index=0, process_count=1)
  t0, losses = time.time(), {}
  for i in range(FLAGS.steps):
    batch = {k: v for k, v in next(it).items() if k in keys}
    state, metrics = step(state, batch)
    if (i + 1) % FLAGS.log_every == 0 or i + 1 == FLAGS.steps:
      losses = {k: round(float(v), 4) for k, v in metrics.items()}
      print(f"  {name} step {i + 1}: {losses}", flush=True)
  out = {"steps": FLAGS.steps, "train_seconds": round(time.time() - t0, 1), "final_losses": losses,
         "fid": None, "miou": None}
  try:
    m = evaluate_generator(family, state.variables, config, os.path.join(FLAGS.out_dir, name),
                           segmenter_dir=FLAGS.segmenter_dir or None, fid_weights=FLAGS.fid_weights or None,
                           save_images=False, extra={"norm": name, "train_steps": FLAGS.steps})
  except ValueError as e:  # recorded in the variant's row instead of ending the whole benchmark
    out["error"] = str(e)
    return out
  out.update({k: m.get(k) for k in ("fid", "miou", "pixel_acc", "real_miou", "num_images")})
  return out


def main(argv):
  del argv
  import jax
  dev = jax.devices()[0]
  names = [n.strip() for n in FLAGS.variants.split(",") if n.strip()]
  first = synthetic_config(FLAGS.config, names[0])
  result = {"bench": "norms_quality", "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "device": {"platform": dev.platform, "kind": dev.device_kind, "count": jax.device_count()},
            "versions": {"python": platform.python_version(), "jax": jax.__version__},
            "config": {"dataset": "synthetic", "crop_size": first.data.crop_size, "ngf": first.model.ngf,
                       "ndf": first.model.ndf, "nhidden": first.model.nhidden, "batch_size": first.batch_size,
                       "steps": FLAGS.steps, "val_images": first.data.get("synthetic_val_size"),
                       "no_vgg_loss": bool(first.train.no_vgg_loss), "seed": first.seed,
                       "segmenter_dir": FLAGS.segmenter_dir or None},
            "description": (f"synthetic dataset, {FLAGS.steps} iterations at batch {first.batch_size}, crop "
                            f"{first.data.crop_size}, ngf {first.model.ngf}; FID / mIoU by "
                            "spade_jax.evaluate.loop.evaluate_generator on the validation split"),
            "variants": {}}
  for name in names:
    print(f"{name}: training {FLAGS.steps} steps", flush=True)
    result["variants"][name] = train_and_score(synthetic_config(FLAGS.config, name), name)
    print(f"{name}: {json.dumps(result['variants'][name])}", flush=True)
  out = FLAGS.json or os.path.join(ROOT, "bench", "results", f"norms_quality_synthetic_{dev.platform}.json")
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, "w") as f:
    json.dump(result, f, indent=1)
  print(f"wrote {out}")


if __name__ == "__main__":
  from spade_jax import cli
  cli.run(main)
