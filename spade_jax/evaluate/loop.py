"""The evaluation harness: FID, mIoU / pixel accuracy, diversity, generated images, `metrics.json`.

Protocol (frozen; written into every `metrics.json`):
  * images: the val split at the generator's resolution (official test preprocessing: resize to the
    crop size, no flip); generated with the eval-mode generator from the family's `eval_inputs` (its
    protocol's setting, e.g. style-guided from the paired real image as the official test.py does),
    written into `protocol.generation`;
  * FID: TF-Inception pool3 (stylegan3 conversion, see `evaluate/fid.py`) between the generated and the
    real val images, both as uint8 at the generator's resolution (TF1 bilinear resize to 299 inside);
    real statistics cached per dataset and resolution;
  * mIoU / accuracy: the dataset's segmenter on the generated images against the val label maps at the
    same resolution, don't-care ignored (`evaluate/metrics.py`);
  * diversity (multimodal families): mean pairwise L1 distance, in [0, 1] pixel units, between
    `diversity_samples` images generated from independent draws (`diversity_inputs`) for the same label
    map, averaged over the split;
  * style (with `eval.style_classifier`, on datasets whose records carry their style: the synthetic
    landscapes): the classifier of `evaluate/style.py` names the (time of day, season) of generated
    images; `style_accuracy` (style from the paired photo: the family's `eval_inputs`),
    `style_accuracy_random` (multimodal families: `diversity_inputs`; a generator given no style at all,
    e.g. SEAN's mean codes: its own images; scored against the paired photo),
    `style_accuracy_cross` (the label map of A with the photo of B, B = the record one batch earlier,
    scored against B: `Family.cross_inputs`, by default the image inputs of `input_spec` swapped) and
    `style_accuracy_real` (the real photos: the ceiling); the exact wording is `style.PROTOCOL`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.evaluate import fid as fid_lib
from spade_jax.evaluate import segmentation as seg_lib
from spade_jax.evaluate import style as style_lib
from spade_jax.evaluate.metrics import scores
from spade_jax.evaluate.synthesize import safe_stem, save_pngs, to_uint8


def _sha256(path: str) -> Optional[str]:
  if not path or not os.path.isfile(path):
    return None
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def _progress(i: int, n: Optional[int], t0: float, log) -> None:
  rate = i / max(time.time() - t0, 1e-9)
  eta = f", ETA {(n - i) / rate:.0f}s" if n else ""
  log(f"eval: {i}{'/' + str(n) if n else ''} images, {rate:.1f} images/s{eta}")


def _val_source(config):
  """The val split's records (random access; `len` is the image count)."""
  from spade_jax.data import builders
  from spade_jax.data.pipeline import prepared_dir
  return builders.open_split(prepared_dir(config), "val")


def _val_names(source) -> Callable[[int], str]:
  """Record index → the input's file stem (the name the generated image is saved under)."""
  def name(i: int) -> str:
    raw = source[int(i)].get("name", str(i))
    raw = raw.decode() if isinstance(raw, bytes) else str(raw)
    return safe_stem(raw) or str(i)
  return name


def real_statistics(config, batches, extractor, cache_dir: str, log=print) -> np.ndarray:
  """Inception features of the real val images, cached per dataset identity and resolution."""
  from spade_jax.data.dataset import spec_from_config
  h, w = round(config.data.crop_size / config.data.aspect_ratio), config.data.crop_size
  key = f"{spec_from_config(config).cache_name()}_{h}x{w}"
  path = os.path.join(cache_dir, "fid_stats", f"{key}.npy")
  if os.path.isfile(path):
    return np.load(path)
  log(f"eval: computing real-image Inception features (cached at {path})")
  feats = [extractor(to_uint8(b["image"])[np.asarray(b["mask"], bool)]) for b in batches]
  feats = np.concatenate(feats)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  np.save(path, feats)
  return feats


def evaluate_generator(family, variables: dict, config, out_dir: str, *, segmenter_dir: Optional[str] = None,
                       fid_weights: Optional[str] = None, diversity_samples: int = 2, seed: int = 0,
                       save_images: bool = True, cache_dir: Optional[str] = None, extra: Optional[dict] = None,
                       style_classifier: Optional[str] = None, fid: bool = True, log=print) -> dict:
  """Runs the protocol above on `config`'s val split; writes `out_dir/metrics.json` (+ images).
  `fid=False` skips the Inception network (FID None): quick looks at the other metrics."""
  from spade_jax.data.dataset import default_cache_dir
  from spade_jax.data.pipeline import make_iterator
  cache_dir = cache_dir or config.data.get("cache_dir", "") or default_cache_dir()
  os.makedirs(out_dir, exist_ok=True)
  multimodal = bool(family.multimodal)
  extractor = fid_lib.FIDFeatureExtractor(fid_weights, batch_size=max(1, config.batch_size)) if fid else None
  seg = seg_lib.load_segmenter(segmenter_dir) if segmenter_dir else None  # U-Net dir or DeepLabV2 file
  source = _val_source(config)
  names = _val_names(source)
  total = len(source)
  every = max(1, total // 10)  # about ten progress lines
  style = None
  if style_classifier:
    what = "config.eval.style_classifier"
    style = (*style_lib.load(style_classifier, what), style_lib.style_table(source, what),
             style_lib.StyleScores())
    style_lib.check_resolution(style[1], family.image_hw, what)
  photo_inputs = family.photo_inputs()  # style photos
  n_random = max(diversity_samples, 1 if style is not None else 0) if multimodal else 0

  @jax.jit
  def gen(variables, batch, rng):
    fake = family.generate(variables, family.eval_inputs(batch), rng)
    samples = []
    for k in range(n_random):
      samples.append(family.generate(variables, family.diversity_inputs(batch), jax.random.fold_in(rng, k + 1)))
    return fake, samples

  @jax.jit
  def gen_cross(variables, batch, style_batch, rng):
    """The label map (and instances) of `batch` in the style of `style_batch` (`Family.cross_inputs`)."""
    inputs = family.cross_inputs(variables, family.eval_inputs(batch), family.eval_inputs(style_batch))
    return family.generate(variables, inputs, rng)

  guided = None  # whether the eval inputs carry a style photo (found on the first batch)
  previous = None  # (the previous batch's inputs, mask, index): the cross-style test's style photos

  real_batches = []
  fake_feats, conf, div_sum, div_n, count = [], None, 0.0, 0, 0
  t0 = time.time()
  rng = jax.random.key(seed)
  for bi, batch in enumerate(make_iterator(config, "val", seed=seed)):
    mask = np.asarray(batch["mask"], bool)
    if fid:
      real_batches.append({"image": batch["image"], "mask": mask})
    jb = {k: jnp.asarray(batch[k]) for k in family.batch_keys if k in batch}
    fake, samples = gen(variables, jb, jax.random.fold_in(rng, bi))
    fake = np.asarray(fake)[mask]
    if style is not None:
      if guided is None:
        guided = bool(photo_inputs & set(jax.eval_shape(family.eval_inputs, jb)))
      _style_scores(style, batch, mask, fake, samples, guided)
      if guided and previous is not None:
        keep = mask & previous[1]
        cross = np.asarray(gen_cross(variables, jb, previous[0], jax.random.fold_in(rng, 10_000 + bi)))
        style[3].add("cross", style[0](cross[keep]), style[2][previous[2][keep]])
      previous = (jb, mask, np.asarray(batch["index"]))
    if fid:
      fake_feats.append(extractor(to_uint8(fake)))
    if seg is not None:
      c = seg_lib.confusion(seg[0], [{"image": fake, "label": np.asarray(batch["label"])[mask]}],
                            seg[1]["num_classes"])
      conf = c if conf is None else conf + c
    if multimodal and diversity_samples > 1:
      s = np.stack([np.asarray(x)[mask] for x in samples]) * 0.5  # [-1,1] → [0,1] units
      for a in range(diversity_samples):
        for b in range(a + 1, diversity_samples):
          div_sum += float(np.abs(s[a] - s[b]).mean(axis=(1, 2, 3)).sum())
          div_n += len(fake)
    if save_images:
      idx = np.asarray(batch["index"])[mask]
      save_pngs(fake, [os.path.join(out_dir, "images", f"{names(i)}.png") for i in idx])
    count += len(fake)
    if count // every != (count - len(fake)) // every or count == total:
      _progress(count, total, t0, log)

  metrics = {"fid": None, "num_images": count}
  if fid:
    real_feats = real_statistics(config, real_batches, extractor, cache_dir, log)
    metrics["fid"] = fid_lib.fid_from_features(np.concatenate(fake_feats), real_feats, method="gram")
  if seg is not None:
    s = scores(conf)
    metrics.update(miou=s["miou"], pixel_acc=s["pixel_acc"], real_miou=seg[1].get("real_val_miou"),
                   real_pixel_acc=seg[1].get("real_val_pixel_acc"))
  metrics["diversity_l1"] = div_sum / div_n if div_n else None
  if style is not None:
    res = style[3].result()
    for test in ("paired", "random", "real", "cross"):
      metrics["style_accuracy" + ("" if test == "paired" else "_" + test)] = res.get(test, {}).get("joint")
    metrics["style"] = {**res, "classifier_real_val_accuracy": style[1].get("real_val_accuracy")}
  h, w = family.image_hw
  metrics["protocol"] = {
      "split": "val", "resolution": [h, w], "images": count,
      "family": family.name,
      **family.eval_protocol(),
      "fid": ("TF-Inception pool3, uint8 at the generator resolution, TF1 bilinear to 299; exact trace term"
              if fid else None),
      "segmentation": "don't-care ignored; accumulated confusion; mIoU over classes with non-empty union",
      "diversity": (f"mean pairwise L1 in [0,1] over {diversity_samples} samples of independent draws"
                    if multimodal else None),
      "style": style_lib.PROTOCOL if style is not None else None,
      "weights_sha256": {"fid_inception": (_sha256(str(fid_lib.inception.resolve_weights_path(fid_weights)))
                                           if fid else None),
                         "segmenter": _sha256(seg[1]["weights_file"]) if seg is not None else None,
                         "style_classifier": _sha256(style[1]["weights_file"]) if style is not None else None},
      "config": json.loads(config.to_json_best_effort()),
      **(extra or {})}
  with open(os.path.join(out_dir, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)
  miou = "" if seg is None else f", mIoU {metrics['miou']:.4f}" + (
      f" (real {metrics['real_miou']:.4f})" if metrics["real_miou"] is not None else "")  # None: DeepLabV2
  sty = "" if style is None else f", style accuracy {_fmt(metrics['style_accuracy'])} (random " \
      f"{_fmt(metrics['style_accuracy_random'])}, cross {_fmt(metrics['style_accuracy_cross'])}, real " \
      f"{_fmt(metrics['style_accuracy_real'])})"
  log(f"eval: FID {_fmt(metrics['fid'], '.2f')}{miou}{sty} → {out_dir}/metrics.json")
  return metrics


def _fmt(x, spec: str = ".3f") -> str:
  return "n/a" if x is None else format(x, spec)


def _style_scores(style, batch, mask, fake, samples, style_guided: bool) -> None:
  """Scores one batch: the real photos, the generated images (when their style came from the paired
  photo) and the first random-code sample, all against the paired photo's style. A generator given
  neither a style photo nor random codes (SEAN's mean codes) is the chance level itself: its images
  are the `random` test."""
  predict, _, table, scores_ = style
  target = table[np.asarray(batch["index"])[mask]]
  scores_.add("real", predict(np.asarray(batch["image"])[mask]), target)
  if style_guided:
    scores_.add("paired", predict(fake), target)
  if samples:
    scores_.add("random", predict(np.asarray(samples[0])[mask]), target)
  elif not style_guided:
    scores_.add("random", predict(fake), target)
