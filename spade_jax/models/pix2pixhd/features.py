"""Instance-feature styles of a trained pix2pixHD feature model (`instance_feat` / `label_feat`).

    python -m spade_jax.models.pix2pixhd.features encode   --config CFG --workdir W
    python -m spade_jax.models.pix2pixhd.features generate --config CFG --workdir W --label L.png \
        [--instance I.png] [--cluster 3=2,5=0] [--seed 0] [--photo P.png] --out DIR
    python -m spade_jax.models.pix2pixhd.features grid     --config CFG --workdir W --out grid.png

`encode` (official `encode_features.py`): runs the trained encoder over the training split (one pass, no
flip, at the eval geometry); for every instance of every image it takes the pooled feature vector at the
middle pixel (in raster order) of that instance and its area relative to 1/32 of the image; per class it
keeps the instances larger than ~1/64 of the image (area value > 0.5) and clusters them with scikit-learn's
`KMeans(min(rows, n_clusters), random_state=0, n_init=10)`. Written next to the checkpoints:
`<workdir>/features.npz` (the rows per class) and `<workdir>/features_clustered_<n_clusters:03d>.npz`
(`centers [label_nc, n_clusters, feat_num]`, `num_clusters [label_nc]`; classes without instances have 0).
An instance's class is the label at that middle pixel (the official reads it from Cityscapes-style ids,
`id` or `id // 1000`: the same class wherever the instance map is consistent with the label map).

`generate`: a feature map from the clusters — per class the cluster index given with `--cluster CLASS=INDEX`,
or for every instance of the other classes a random index from `--seed` (official `sample_features`: one
draw per instance) — or, with `--photo`, the encoder's features of that photo (official `--use_encoded_image`);
then the generator. A class without clusters gets feature value `DEFAULT_FEATURE` (0, the middle of the
encoder's tanh range) with a warning (the official leaves those pixels uninitialised).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Optional

import numpy as np

DEFAULT_FEATURE = 0.0
AREA_THRESHOLD = 0.5
KMEANS_SEED = 0


def clusters_path(workdir: str, n_clusters: int) -> str:
  return os.path.join(workdir, f"features_clustered_{int(n_clusters):03d}.npz")


def instance_rows(features: np.ndarray, label: np.ndarray, ids: np.ndarray) -> dict[int, np.ndarray]:
  """One image: pooled features `[H, W, C]`, label and instance maps `[H, W]` → `{class: rows [n, C + 1]}`
  (feature at each instance's middle pixel, then its area / (H·W // 32))."""
  h, w, c = features.shape
  flat_ids, flat_lab, flat_f = ids.reshape(-1), label.reshape(-1), features.reshape(-1, c)
  order = np.argsort(flat_ids, kind="stable")  # raster order within each id
  _, start, count = np.unique(flat_ids[order], return_index=True, return_counts=True)
  pix = order[start + count // 2]
  area = count.astype(np.float64) / float(max(h * w // 32, 1))  # (images of < 32 pixels: / 1)
  rows: dict[int, list] = {}
  for p, a in zip(pix, area):
    rows.setdefault(int(flat_lab[p]), []).append(np.concatenate([flat_f[p].astype(np.float64), [a]]))
  return {k: np.stack(v) for k, v in rows.items()}


def cluster(rows: dict[int, np.ndarray], label_nc: int, n_clusters: int, feat_num: int) -> dict[str, np.ndarray]:
  """Per-class k-means of the instance rows → `{"centers": [label_nc, n_clusters, feat_num] float32,
  "num_clusters": [label_nc] int32}`."""
  from sklearn.cluster import KMeans
  centers = np.zeros((label_nc, n_clusters, feat_num), np.float32)
  num = np.zeros((label_nc,), np.int32)
  for k in range(label_nc):
    r = rows.get(k)
    if r is None:
      continue
    r = r[r[:, -1] > AREA_THRESHOLD][:, :-1]
    if not len(r):
      continue
    n = min(len(r), n_clusters)
    km = KMeans(n_clusters=n, random_state=KMEANS_SEED, n_init=10).fit(r)
    centers[k, :n] = km.cluster_centers_
    num[k] = n
  return {"centers": centers, "num_clusters": num}


def load_clusters(path: str, label_nc: int, feat_num: int) -> dict[str, np.ndarray]:
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: clusters file not found; run `python -m spade_jax.models.pix2pixhd.features "
                            "encode --config CONFIG --workdir WORKDIR` first")
  with np.load(path) as f:
    out = {"centers": f["centers"], "num_clusters": f["num_clusters"]}
  if out["centers"].shape[0] != label_nc or out["centers"].shape[2] != feat_num:
    raise ValueError(f"{path}: clusters for {out['centers'].shape[0]} classes × {out['centers'].shape[2]} features, "
                     f"the model has label_nc={label_nc}, feat_num={feat_num}")
  return out


def parse_choice(text: str, label_nc: int) -> dict[int, int]:
  """`"3=2,5=0"` → {3: 2, 5: 0} (ValueError naming --cluster)."""
  out = {}
  for part in filter(None, (p.strip() for p in (text or "").split(","))):
    cls, sep, idx = part.partition("=")
    if not sep or not cls.strip().isdigit() or not idx.strip().lstrip("-").isdigit():
      raise ValueError(f"--cluster {text!r}: expected CLASS=INDEX[,CLASS=INDEX...], got {part!r}")
    c = int(cls)
    if c >= label_nc:
      raise ValueError(f"--cluster {part}: class {c} is outside 0..{label_nc - 1}")
    out[c] = int(idx)
  return out


def feature_map(clusters: dict, label: np.ndarray, ids: np.ndarray, choice: dict[int, int],
                rng: np.random.Generator, warn: Callable[[str], None] = print) -> np.ndarray:
  """Cluster centres per instance → `[H, W, feat_num]` float32 (see the module docstring)."""
  centers, num = clusters["centers"], clusters["num_clusters"]
  for c, i in choice.items():
    if not 0 <= i < int(num[c]):
      raise ValueError(f"--cluster {c}={i}: class {c} has {int(num[c])} clusters (valid indices 0.."
                       f"{int(num[c]) - 1})" if num[c] else f"--cluster {c}={i}: class {c} has no clusters")
  out = np.full(label.shape + (centers.shape[2],), DEFAULT_FEATURE, np.float32)
  flat_ids = ids.reshape(-1)
  order = np.argsort(flat_ids, kind="stable")
  uniq, start, count = np.unique(flat_ids[order], return_index=True, return_counts=True)
  missing = set()
  flat_out = out.reshape(-1, centers.shape[2])
  for u, s, n in zip(uniq, start, count):
    pix = order[s:s + n]
    c = int(label.reshape(-1)[order[s + n // 2]])
    if c in choice:
      k = choice[c]
    elif num[c] > 0:
      k = int(rng.integers(0, int(num[c])))
    else:
      missing.add(c)
      continue
    flat_out[pix] = centers[c, k]
  if missing:
    warn(f"warning: no feature clusters for class{'es' if len(missing) > 1 else ''} "
         f"{', '.join(map(str, sorted(missing)))}: their features are {DEFAULT_FEATURE}")
  return out


# ----------------------------------------------------------------------------------------------
def _training_samples(config):
  """One pass over the training split at the eval geometry, no flip: (label, instance, image) per sample."""
  if config.data.name == "fake":
    from spade_jax.data.fake import FakeIterator
    for b in FakeIterator(config, "val"):
      for i in range(len(b["label"])):
        yield b["label"][i], b["instance"][i], b["image"][i]
    return
  from spade_jax.data import builders, pipeline
  from spade_jax.data.dataset import spec_from_config
  spec = spec_from_config(config)
  source = builders.open_split(pipeline.prepared_dir(config, spec), "train")
  loader = pipeline.SampleLoader(source, pipeline.geometry(config, False), spec.label.label_nc,
                                 spec.label.no_instance, False, False)
  for i in range(len(source)):
    s = loader.load(i, None)
    yield s["label"], s["instance"], s["image"]


def encode(config, workdir: str, *, step: Optional[int] = None, log=print) -> str:
  """The `encode` command; returns the clusters file's path."""
  import jax
  from spade_jax.evaluate.restore import load_for_inference
  family, variables = load_for_inference(config, workdir, step, log=log)
  model = family.model
  if model.E is None:
    raise ValueError("this model has no feature encoder (model.instance_feat / label_feat are off)")
  no_inst = bool(family.config.data.no_instance)
  enc = jax.jit(lambda v, img, ids: model.encode(v, img, ids, train=False)[0])
  rows: dict[int, list] = {}
  n = 0
  for label, inst, image in _training_samples(family.config):
    ids = label if (no_inst or family.config.model.label_feat) else inst
    f = np.asarray(enc(variables["E"], image[None], ids[None]))[0]
    for k, r in instance_rows(f, label, ids).items():
      rows.setdefault(k, []).append(r)
    n += 1
  stacked = {k: np.concatenate(v) for k, v in rows.items()}
  m = family.config.model
  np.savez(os.path.join(workdir, "features.npz"), **{f"class_{k}": v for k, v in stacked.items()})
  out = cluster(stacked, int(family.config.data.label_nc), int(m.n_clusters), int(m.feat_num))
  path = clusters_path(workdir, int(m.n_clusters))
  np.savez(path, **out)
  log(f"encoded {n} training images: {sum(len(v) for v in stacked.values())} instances; clusters per class "
      f"{out['num_clusters'].tolist()} → {path}")
  return path


def generate_files(config, workdir: str, labels: str, out_dir: str, *, instances: Optional[str] = None,
                   cluster_choice: str = "", seed: int = 0, photo: Optional[str] = None,
                   clusters_file: Optional[str] = None, step: Optional[int] = None, log=print) -> list[str]:
  """The `generate` command: one PNG per label file."""
  from PIL import Image
  from spade_jax.evaluate import synthesize as syn
  from spade_jax.evaluate.restore import load_for_inference
  from spade_jax.evaluate.synthesis_cli import _read_style
  family, variables = load_for_inference(config, workdir, step, log=log)
  d, m = family.config.data, family.config.model
  if family.model.E is None:
    raise ValueError("this model has no feature encoder (model.instance_feat / label_feat are off)")
  clusters = None
  if photo is None:
    clusters = load_clusters(clusters_file or clusters_path(workdir, int(m.n_clusters)), int(d.label_nc),
                             int(m.feat_num))
  choice = parse_choice(cluster_choice, int(d.label_nc))
  rng = np.random.default_rng(seed)
  written = []
  for path in syn.list_label_files(labels):
    lab = syn.read_label_png(path, int(d.label_nc))
    inst = lab
    if instances:
      ipath = os.path.join(instances, os.path.basename(path)) if os.path.isdir(instances) else instances
      if not os.path.isfile(ipath):
        raise FileNotFoundError(f"{ipath}: instance map for {path} not found")
      with Image.open(ipath) as im:
        inst = np.asarray(im if im.mode in ("L", "P", "I", "I;16") else im.convert("I")).astype(np.int32)
    inputs = {"label": lab[None]}
    if not d.no_instance:
      inputs["instance"] = inst[None]
    if photo is not None:
      inputs["style_image"] = _read_style(photo, family.image_hw)
    else:
      ids = lab if (d.no_instance or m.label_feat) else inst
      inputs["features"] = feature_map(clusters, lab, ids, choice, rng, warn=log)[None]
    img = np.asarray(syn.generate(family, variables, inputs))
    out = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".png")
    syn.save_pngs(img, [out])
    written.append(out)
    log(f"{path} → {out}")
  return written


def style_grid(config, workdir: str, out: str, *, rows: int = 4, styles: int = 5, seed: int = 0,
               clusters_file: Optional[str] = None, step: Optional[int] = None, log=print) -> str:
  """A PNG of val label maps (rows) under several cluster styles: column k gives every class its cluster
  k (mod its number of clusters), then the encoded real photo, then the real photo."""
  from PIL import Image
  from spade_jax.evaluate import synthesize as syn
  from spade_jax.evaluate.restore import load_for_inference
  family, variables = load_for_inference(config, workdir, step, log=log)
  d, m = family.config.data, family.config.model
  clusters = load_clusters(clusters_file or clusters_path(workdir, int(m.n_clusters)), int(d.label_nc),
                           int(m.feat_num))
  num = clusters["num_clusters"]
  samples = []
  if d.name == "fake":
    from spade_jax.data.fake import FakeIterator
    b = next(FakeIterator(family.config, "val"))
    samples = [(b["label"][i], b["instance"][i], b["image"][i]) for i in range(len(b["label"]))]
  else:
    from spade_jax.data import pipeline
    for b in pipeline.make_iterator(family.config, "val", process_index=0, process_count=1):
      samples += [(b["label"][i], b["instance"][i], b["image"][i]) for i in range(len(b["label"])) if b["mask"][i]]
      if len(samples) >= rows:
        break
  picked = np.random.default_rng(seed).choice(len(samples), size=min(rows, len(samples)), replace=False)
  if d.name == "synthetic":
    from spade_jax.data.synthetic.layout import CLASS_COLOURS
    colours = np.asarray(CLASS_COLOURS, np.uint8)
  else:
    colours = np.random.default_rng(0).integers(0, 256, (int(d.label_nc) + 1, 3)).astype(np.uint8)
  lines = []
  for i in sorted(picked):
    lab, inst, real = samples[i]
    ids = lab if (d.no_instance or m.label_feat) else inst
    base = {"label": lab[None]} if d.no_instance else {"label": lab[None], "instance": inst[None]}
    tiles = [colours[np.clip(lab, 0, len(colours) - 1)]]
    for k in range(styles):
      choice = {c: k % int(num[c]) for c in range(int(d.label_nc)) if num[c] > 0}
      f = feature_map(clusters, lab, ids, choice, np.random.default_rng(seed), warn=lambda msg: None)
      tiles.append(syn.to_uint8(syn.generate(family, variables, dict(base, features=f[None])))[0])
    tiles.append(syn.to_uint8(syn.generate(family, variables, dict(base, style_image=real[None])))[0])
    tiles.append(syn.to_uint8(real))
    pad = np.full((lab.shape[0], 2, 3), 255, np.uint8)
    lines.append(np.concatenate(sum(([t, pad] for t in tiles), [])[:-1], axis=1))
  hpad = np.full((2, lines[0].shape[1], 3), 255, np.uint8)
  grid = np.concatenate(sum(([ln, hpad] for ln in lines), [])[:-1], axis=0)
  grid = grid.repeat(2, 0).repeat(2, 1)
  os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
  Image.fromarray(grid).save(out)
  log(f"{len(lines)} label maps × {styles} cluster styles (+ encoded photo, real) → {out}")
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m spade_jax.models.pix2pixhd.features", description=__doc__.split("\n")[0])
  sub = p.add_subparsers(dest="command", required=True)
  for name in ("encode", "generate", "grid"):
    s = sub.add_parser(name)
    s.add_argument("--config", required=True)
    s.add_argument("--workdir", required=True)
    s.add_argument("--step", type=int, default=None)
    if name == "generate":
      s.add_argument("--label", required=True, help="label PNG or directory of PNGs")
      s.add_argument("--instance", default=None, help="instance PNG / directory (default: the label map)")
      s.add_argument("--cluster", default="", help="CLASS=INDEX[,...]: the cluster of each named class")
      s.add_argument("--seed", type=int, default=0, help="seed of the random clusters of the other classes")
      s.add_argument("--photo", default=None, help="encode this photo instead of using the clusters")
      s.add_argument("--clusters-file", default=None)
      s.add_argument("--out", required=True)
    if name == "grid":
      s.add_argument("--rows", type=int, default=4)
      s.add_argument("--styles", type=int, default=5)
      s.add_argument("--seed", type=int, default=0)
      s.add_argument("--out", required=True)
  a = p.parse_args(argv)
  import importlib.util
  try:
    spec = importlib.util.spec_from_file_location("_p2p_config", a.config)
    if spec is None or not os.path.isfile(a.config):
      raise FileNotFoundError(f"--config {a.config}: no such config file")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = mod.get_config()
    if a.command == "encode":
      encode(config, a.workdir, step=a.step)
    elif a.command == "grid":
      style_grid(config, a.workdir, a.out, rows=a.rows, styles=a.styles, seed=a.seed, step=a.step)
    else:
      generate_files(config, a.workdir, a.label, a.out, instances=a.instance, cluster_choice=a.cluster,
                     seed=a.seed, photo=a.photo, clusters_file=a.clusters_file, step=a.step)
  except (ValueError, FileNotFoundError, FileExistsError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
