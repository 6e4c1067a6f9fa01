"""What the VAE encoder's architecture lets through before any training (#19): a linear probe of the
style on the posterior means (`mu_*` keys) of *randomly initialised* encoders, per `norm_E`.

    .venv/bin/python bench/style_encoder_capacity.py [--seeds 3] [--out bench/results/style_encoder_capacity.json]

Instance norm after every conv (the official `spectralinstance`) divides out each feature map's mean
and spread per image — the global colour and brightness that carry the time of day. This measures how
much of the style a random encoder of each kind still exposes (probe accuracy on the val photos and
I(mu; style) ≥ H − CE, bits), on the synthetic default's photos (64×64, the encoder's 256×256 input),
after 20 training-mode forwards that settle the spectral-norm vectors (and BN running statistics).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--config", default="configs/spade/synthetic.py")
  ap.add_argument("--norms", default="spectralinstance,spectralnone,spectralbatch,spectralgroup")
  ap.add_argument("--seeds", type=int, default=3)
  ap.add_argument("--out", default="bench/results/style_encoder_capacity.json")
  args = ap.parse_args(argv)
  os.chdir(ROOT)
  import jax
  import numpy as np
  from spade_jax import models
  from spade_jax.configs import common
  from spade_jax.configs.load import load_file
  from spade_jax.data import builders
  from spade_jax.data.pipeline import prepared_dir
  from spade_jax.evaluate import style as style_lib
  from style_run import encoder_stats, photos, style_entropies

  config = common.complete(load_file(args.config))
  tables = {s: style_lib.style_table(builders.open_split(prepared_dir(config), s)) for s in ("train", "val")}
  data = {"train": photos(config, "train", 1000), "val": photos(config, "val", 200)}
  h = style_entropies()
  rows = []
  load = [os.getloadavg()[0]]
  for norm in args.norms.split(","):
    c = config.copy_and_resolve_references()
    c.model.norm_E = norm
    family = models.build(c)
    for seed in range(args.seeds):
      e = family.model.init(jax.random.PRNGKey(seed))["E"]
      for i in range(20):  # settle the spectral-norm power iteration (and BN running statistics)
        _, stats = family.model.encode(e, data["train"][0][i * 50 % 1000:][:50], train=True)
        e = {"params": e["params"], "batch_stats": stats}
      s = encoder_stats(family, e, data, tables, h, seed)
      rows.append({"norm_E": norm, "seed": seed, **{k: s[k] for k in s if k.startswith("mu_")}})
      print(json.dumps(rows[-1]), flush=True)
    load.append(os.getloadavg()[0])
  summary = {}
  for norm in args.norms.split(","):
    r = [x for x in rows if x["norm_E"] == norm]
    summary[norm] = {k: round(float(np.mean([x[k] for x in r])), 4) for k in r[0] if k.startswith("mu_")}
  out = {"what": __doc__.split("\n\n")[0], "config": args.config, "seeds": args.seeds, "probe_photos":
         {"train": 1000, "val": 200}, "style_entropy_bits": h, "rows": rows, "mean_over_seeds": summary,
         "load_average": load, "date": time.strftime("%Y-%m-%d %H:%M")}
  with open(args.out, "w") as f:
    json.dump(out, f, indent=1)
  print(json.dumps(summary, indent=1))
  return 0


if __name__ == "__main__":
  sys.exit(main())
