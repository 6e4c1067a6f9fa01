"""How many training batches the EMA generator's BN statistics are re-estimated on, and the style metrics (#19).

    .venv/bin/python bench/style_bn_batches.py --config configs/spade/synthetic_style.py \
        --workdir runs/synthetic_style [--step N] [--batches 0,4,16,64,256] \
        [--set eval.style_code=mean] [--out bench/results/style_bn_batches.json]

For each count K: the latest checkpoint's (or step N's) sampling weights as `eval.py` makes them (EMA params, BN statistics
re-estimated on K training batches; K = 0: the live running statistics), then the eval harness without FID
and mIoU (style accuracies, diversity). Writes JSON with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--config", required=True)
  ap.add_argument("--workdir", required=True)
  ap.add_argument("--set", action="append", help="config override key=value (as bench/style_run.py)")
  ap.add_argument("--step", type=int, default=None, help="the checkpoint to score (default: the latest)")
  ap.add_argument("--batches", default="0,4,16,64,256")
  ap.add_argument("--classifier", default="weights/style_synthetic")
  ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "style_bn_batches.json"))
  args = ap.parse_args(argv)
  os.chdir(ROOT)
  from spade_jax import xla_flags
  xla_flags.configure(cache=False)
  import jax
  from spade_jax.configs import common
  from spade_jax.configs.load import load_file
  from spade_jax.evaluate.loop import evaluate_generator
  from spade_jax.evaluate.restore import load_for_inference
  sys.path.insert(0, os.path.join(ROOT, "bench"))
  from style_run import apply_sets, parse_sets

  config = load_file(args.config)
  sets = parse_sets(args.set)
  apply_sets(config, sets)
  config = common.complete(config)
  record = {"config": args.config, "overrides": sets, "workdir": args.workdir, "device": jax.devices()[0].device_kind,
            "jax": jax.__version__, "load_before": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "results": {}}
  for k in (int(x) for x in args.batches.split(",")):
    family, variables, step = load_for_inference(config, args.workdir, args.step, bn_batches=k, log=lambda *_: None,
                                                 return_step=True)
    m = evaluate_generator(family, variables, family.config, os.path.join(args.workdir, "eval_bn", str(k)), fid=False,
                           save_images=False, style_classifier=args.classifier, log=lambda *_: None)
    row = {x: m[x] for x in m if x.startswith("style_accuracy")}
    row.update(style=m["style"], diversity_l1=m["diversity_l1"], step=int(step))
    record["results"][str(k)] = row
    print(f"bn batches {k}: style {row['style_accuracy']} (random {row['style_accuracy_random']}, cross "
          f"{row['style_accuracy_cross']:.3f}), diversity {row['diversity_l1']:.3f}", flush=True)
  record["load_after"] = os.getloadavg()
  with open(args.out, "w") as f:
    json.dump(record, f, indent=1)
  print(f"→ {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
