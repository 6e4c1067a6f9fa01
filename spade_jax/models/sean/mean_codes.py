"""Mean style codes per class over a dataset split, written next to the checkpoints.

  python -m spade_jax.models.sean.mean_codes --workdir DIR [--config CONFIG.py] [--split val] \\
      [--max-images N] [--step N] [--out PATH]

The generator of the run (its latest checkpoint, or `--step`) encodes every photo of the split under its
own label map; the mean code of a class is the float32 average over the photos that have it at the
encoder's resolution (the official `calculate_mean_style_code.py` over the codes `test.py` saves).
Output: `DIR/mean_style_codes.npz` (`codes [K, S]`, `counts [K]`, `info`), what `eval.style=mean`, the
fallback of `styles.mix_styles` and synthesis read. The config defaults to the run's `DIR/config.json`.
The `val` split is read once in file order; `train` reads `--max-images` augmented training samples.
Bad input (no checkpoint, unknown split) prints one line and exits with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

import ml_collections
import numpy as np

from spade_jax.models.sean import styles as styles_lib


def compute(family, variables: dict, config, split: str = "val", max_images: Optional[int] = None,
            log=print) -> styles_lib.MeanCodes:
  """Mean codes of `family`'s generator over `split` (see the module docstring)."""
  from spade_jax.data.pipeline import make_iterator
  if split not in ("val", "train"):
    raise ValueError(f"--split {split!r}: expected val or train")
  if split == "train" and not max_images:
    raise ValueError("--split train repeats forever: give --max-images")
  seen, n = [], 0
  for batch in make_iterator(config, split, process_index=0, process_count=1):
    keep = np.asarray(batch.get("mask", np.ones(len(batch["label"]), bool)), bool)
    if max_images:
      keep &= np.cumsum(keep) + n <= max_images
    if keep.any():
      inst = np.asarray(batch["instance"])[keep] if not config.data.no_instance else None
      codes, presence = family.encode_styles(variables, np.asarray(batch["image"])[keep],
                                             np.asarray(batch["label"])[keep], inst)
      seen.append((codes, presence))
      n += int(keep.sum())
    if max_images and n >= max_images:
      break
  if not seen:
    raise ValueError(f"the {split} split yielded no images")
  mean = styles_lib.mean_codes(seen)
  log(f"mean style codes of {int(mean.present.sum())}/{len(mean.counts)} channels over {n} {split} images")
  return mean


def _config(workdir: str, path: Optional[str]):
  if path:
    import importlib.util
    if not os.path.isfile(path):
      raise FileNotFoundError(f"--config {path}: no such file")
    spec = importlib.util.spec_from_file_location("sean_mean_codes_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()
  saved = os.path.join(workdir, "config.json")
  if not os.path.isfile(saved):
    raise FileNotFoundError(f"{saved}: not found (a training workdir has it; or pass --config)")
  with open(saved) as f:
    return ml_collections.ConfigDict(json.load(f))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m spade_jax.models.sean.mean_codes", description=__doc__.split("\n")[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--config", default=None, help="config file (default: WORKDIR/config.json)")
  p.add_argument("--split", default="val", choices=("val", "train"))
  p.add_argument("--max-images", type=int, default=None)
  p.add_argument("--step", type=int, default=None)
  p.add_argument("--out", default=None, help=f"output file (default WORKDIR/{styles_lib.MEAN_CODES_FILE})")
  args = p.parse_args(argv)
  try:
    config = _config(args.workdir, args.config)
    from spade_jax.evaluate.restore import load_for_inference
    family, variables, step = load_for_inference(config, args.workdir, args.step, return_step=True)
    if family.name != "sean":
      raise ValueError(f"{args.workdir}: a {family.name} run; mean style codes are for SEAN runs")
    mean = compute(family, variables, family.config, args.split, args.max_images)
    out = args.out or os.path.join(args.workdir, styles_lib.MEAN_CODES_FILE)
    styles_lib.save_mean_codes(out, mean, {"step": int(step), "split": args.split,
                                           "max_images": args.max_images})
  except (ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
