"""One style experiment (#19): train a config, follow what the VAE encoder carries over training, score it.

    .venv/bin/python bench/style_run.py --name baseline [--set train.lambda_kld=0.01 ...] \
        [--config configs/spade/synthetic.py] [--probe-every 100] [--classifier weights/style_synthetic]

Trains `--config` with the overrides in `runs/style/<name>` (a checkpoint every `--probe-every` steps, all
kept), then, for every checkpoint:
  * the encoder on 1,000 training and the 200 val photos: KL(q(z|x) || N(0, I)) per image (nats), the
    active units (dimensions whose posterior mean varies over the photos: variance > 0.01, Burda et
    al. 2016), and a mutual-information proxy between z and the style: a logistic-regression probe
    fitted on the training photos' z (one draw per photo), its cross-entropy on the val photos' z gives
    I(z; style) ≥ H(style) − CE (bits; Barber & Agakov), for time of day, season and both (`mu_*`: the
    same probe on the posterior means, what the encoder computes before the noise);
  * the style metrics of the eval harness without FID (EMA generator, BN re-estimated, as `eval.py`);
and at the last step the full harness (FID, mIoU, style), and the style metrics with the live generator and
with the EMA weights on the live BN statistics (`final_sampling`: the EMA / BN re-estimation effect). Models without a VAE (SEAN: per-region codes
from the photo) get the style metrics only. Writes `bench/results/style_<name>.json`
with the load average before, during (per checkpoint) and after.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402



def _entropy_bits(p) -> float:
  p = np.asarray(p, np.float64)
  p = p[p > 0]
  return float(-(p * np.log2(p)).sum())


def style_entropies() -> dict:
  """The exact entropies of the renderer's style distribution (time ⟂ season)."""
  from spade_jax.data.synthetic import style as st
  h_time, h_season = _entropy_bits(st._TIME_P), np.log2(len(st.SEASONS))
  return {"time": h_time, "season": float(h_season), "joint": h_time + float(h_season)}


def photos(config, split: str, n: int, batch: int = 50, seed: int = 0):
  """n photos of a split (eval preprocessing for val, training crops for train) + their indices."""
  from spade_jax.data.pipeline import make_iterator
  c = config.copy_and_resolve_references()
  c.batch_size = batch
  images, index = [], []
  for b in make_iterator(c, split, seed=seed):
    keep = np.asarray(b["mask"], bool)
    images.append(np.asarray(b["image"])[keep])
    index.append(np.asarray(b["index"])[keep])
    if sum(len(i) for i in index) >= n:
      break
  return np.concatenate(images)[:n], np.concatenate(index)[:n]


def encoder_stats(family, e_vars, data: dict, tables: dict, h: dict, seed: int = 0) -> dict:
  """KL, active units and the probe's information about the style (see the module docstring)."""
  import jax
  import jax.numpy as jnp
  from sklearn.linear_model import LogisticRegression
  from sklearn.preprocessing import StandardScaler
  enc = jax.jit(lambda v, x: family.model.encode(v, x, train=False)[0])
  out, z, means = {}, {}, {}
  for split, (images, index) in data.items():
    mus, lvs = zip(*[enc(e_vars, jnp.asarray(images[i:i + 50])) for i in range(0, len(images), 50)])
    mu, lv = np.concatenate(mus).astype(np.float64), np.concatenate(lvs).astype(np.float64)
    eps = np.random.default_rng(seed).standard_normal(mu.shape)
    z[split], means[split] = mu + np.exp(0.5 * lv) * eps, mu
    if split == "val":
      kl_dim = 0.5 * (mu ** 2 + np.exp(lv) - 1 - lv)
      out.update(kl_nats_per_image=float(kl_dim.sum(1).mean()), active_units=int((mu.var(0) > 0.01).sum()),
                 z_dim=int(mu.shape[1]), kl_top_dims=np.sort(kl_dim.mean(0))[::-1][:5].round(4).tolist(),
                 posterior_std_mean=float(np.exp(0.5 * lv).mean()))
  ytr, yva = tables["train"][data["train"][1]], tables["val"][data["val"][1]]
  for rep, x, prefix in (("z", z, ""), ("mu", means, "mu_")):
    sc = StandardScaler().fit(x["train"])
    for name, col in (("time", lambda y: y[:, 0]), ("season", lambda y: y[:, 1]),
                      ("joint", lambda y: y[:, 0] * 4 + y[:, 1])):
      probe = LogisticRegression(C=0.5, max_iter=2000).fit(sc.transform(x["train"]), col(ytr))
      p = probe.predict_proba(sc.transform(x["val"]))
      cls = list(probe.classes_)
      yi = np.array([cls.index(y) if y in cls else -1 for y in col(yva)])
      pt = np.where(yi >= 0, p[np.arange(len(yi)), np.maximum(yi, 0)], 1e-6)
      ce_bits = float(-np.log2(np.maximum(pt, 1e-6)).mean())
      out[f"{prefix}mi_lower_bits_{name}"] = round(h[name] - ce_bits, 4)
      out[f"{prefix}probe_accuracy_{name}"] = round(float((np.array(cls)[p.argmax(1)] == col(yva)).mean()), 4)
  return out


def parse_sets(sets) -> dict:
  out = {}
  for s in sets or []:
    key, _, value = s.partition("=")
    try:
      out[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      out[key] = value
  return out


def apply_sets(config, sets: dict) -> None:
  for key, value in sets.items():
    node = config
    *path, leaf = key.split(".")
    for p in path:
      node = node[p]
    if leaf not in node:
      raise ValueError(f"--set {key}: no such config field")
    node[leaf] = type(node[leaf])(value) if not isinstance(node[leaf], str) or isinstance(value, str) else value


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--name", required=True)
  ap.add_argument("--config", default="configs/spade/synthetic.py")
  ap.add_argument("--set", action="append", help="config override key=value (repeatable)")
  ap.add_argument("--probe-every", type=int, default=100)
  ap.add_argument("--classifier", default="weights/style_synthetic")
  ap.add_argument("--segmenter", default="weights/segmenter_synthetic")
  ap.add_argument("--workdir", default=None)
  ap.add_argument("--eval-only", action="store_true", help="score an existing run (no training)")
  ap.add_argument("--note", default="")
  ap.add_argument("--probe-photos", default="1000,200,50", help="train photos, val photos, batch")
  args = ap.parse_args(argv)
  os.chdir(ROOT)
  from spade_jax import xla_flags
  xla_flags.configure(cache=False)
  import jax
  from spade_jax.configs import common
  from spade_jax.configs.load import load_file
  from spade_jax.data import builders
  from spade_jax.data.pipeline import prepared_dir
  from spade_jax.evaluate import style as style_lib
  from spade_jax.evaluate.loop import evaluate_generator
  from spade_jax.evaluate.restore import evaluate as evaluate_run
  from spade_jax.evaluate.restore import load_for_inference, restore_state
  from spade_jax.train.loop import train_and_evaluate

  sets = parse_sets(args.set)
  config = load_file(args.config)
  apply_sets(config, sets)
  config.checkpoint_every_steps = args.probe_every
  config.keep_checkpoints = 1000
  config.image_every_steps = 0
  config = common.complete(config)
  workdir = args.workdir or os.path.join("runs", "style", args.name)
  record = {"name": args.name, "config": args.config, "overrides": sets, "note": args.note,
            "load_before": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
  t0 = time.time()
  if not args.eval_only:
    train_and_evaluate(config, workdir)
  record["train_seconds"] = round(time.time() - t0, 1)
  record["load_after_train"] = os.getloadavg()
  path = os.path.join(ROOT, "bench", "results", f"style_{args.name}.json")
  if args.eval_only and os.path.isfile(path):  # re-scoring: keep the training's own record
    with open(path) as f:
      earlier = json.load(f)
    record.update({k: earlier[k] for k in ("load_before", "started", "train_seconds", "load_after_train", "note")
                   if k in earlier and (k != "note" or not args.note)})
  logs = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  record["train_log"] = [{k: r[k] for k in ("step", "KLD", "GAN", "GAN_Feat", "L1", "D_Fake", "D_real", "steps_per_s")
                          if k in r} for r in logs if "KLD" in r or "GAN" in r]

  tables = {s: style_lib.style_table(builders.open_split(prepared_dir(config), s)) for s in ("train", "val")}
  n_train, n_val, pb = (int(x) for x in args.probe_photos.split(","))
  data = {"train": photos(config, "train", n_train, pb), "val": photos(config, "val", n_val, pb)}
  h = style_entropies()
  record["style_entropy_bits"] = h
  steps = sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())
  record["probes"] = []
  vae = bool(config.model.get("use_vae", False))  # SEAN: per-region codes, no posterior to probe
  for step in steps:
    family, state, _ = restore_state(config, workdir, step)
    row = {"step": step, "load": os.getloadavg()[0]}
    if vae:
      row["live"] = encoder_stats(family, state.variables["E"], data, tables, h)
    if vae and state.ema is not None:
      row["ema"] = encoder_stats(family, family.sampling_variables(state)["E"], data, tables, h)
    if step != steps[-1]:
      fam, variables = load_for_inference(config, workdir, step, log=lambda *_: None)
      m = evaluate_generator(fam, variables, fam.config, os.path.join(workdir, "eval_quick", str(step)),
                             fid=False, save_images=False, style_classifier=args.classifier, log=lambda *_: None)
      row["style"] = {k: m[k] for k in m if k.startswith("style_accuracy")}
      row["diversity_l1"] = m["diversity_l1"]
    print(json.dumps(row), flush=True)
    record["probes"].append(row)
  # The eval harness as eval.py runs it (a family with several settings, e.g. SEAN's reconstruction and
  # mean codes, gets each: the first that ran is `final`, all are under `final_settings`).
  res = evaluate_run(config, workdir, steps[-1], segmenter_dir=args.segmenter, style_classifier=args.classifier,
                     save_images=False)
  keys = ("fid", "miou", "real_miou", "pixel_acc", "diversity_l1", "style_accuracy", "style_accuracy_random",
          "style_accuracy_cross", "style_accuracy_real", "style")
  if "settings" in res:
    record["final_settings"] = {n: ({k: v.get(k) for k in keys} if "skipped" not in v else v)
                                for n, v in res["settings"].items()}
    m = next(v for v in res["settings"].values() if "skipped" not in v)
  else:
    m = res
  record["final"] = {k: m.get(k) for k in keys}
  # EMA and BN re-estimation effects (SPADE#81): the style metrics of the last step with the live
  # generator and with the EMA weights on the live running BN statistics, next to `final` (EMA, BN
  # statistics re-estimated on training batches: what eval.py uses). `family, state`: the last step's,
  # restored by the probe loop.
  record["final_sampling"] = {}
  for name, variables in (("live", family.sampling_variables(state.replace(ema=None))),
                          ("ema_running_bn", family.sampling_variables(state))):
    if state.ema is None and name != "live":
      continue
    sm = evaluate_generator(family, variables, family.config, os.path.join(workdir, "eval_sampling", name), fid=False,
                            save_images=False, style_classifier=args.classifier, log=lambda *_: None)
    record["final_sampling"][name] = {k: sm[k] for k in sm if k.startswith("style_accuracy")}
    print(f"sampling {name}: {record['final_sampling'][name]}", flush=True)
  record["load_after"] = os.getloadavg()
  record["total_seconds"] = round(time.time() - t0, 1)
  protocol = m.get("protocol") or next(iter(res.get("protocol", {}).values()), {})
  record["classifier_sha256"] = protocol["weights_sha256"]["style_classifier"]
  os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
  with open(path, "w") as f:
    json.dump(record, f, indent=1)
  print(f"→ {path}: style {m['style_accuracy']} (random {m['style_accuracy_random']}, cross "
        f"{m['style_accuracy_cross']}, real {m['style_accuracy_real']}), FID {m['fid']:.1f}, mIoU {m['miou']:.3f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
