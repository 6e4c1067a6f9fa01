"""Style metrics: a classifier of the synthetic photos' time of day and season, trained by the project on
the real photos, and the accuracies of generated images against the style they should have.

    python -m spade_jax.evaluate.style --config configs/spade/synthetic.py --out weights/style_synthetic

trains `StyleNet` on the *real* training photos of `config.data` at the generator's resolution (the
true style of every record is in its name, "<split>/<index> <scene> <time> <season>", written by the
synthetic renderer) and writes `params.npz` + `meta.json`, whose `real_val_accuracy` (time, season,
joint = both right) on the real val photos is the ceiling generated images are compared with.

The eval harness (`spade_jax/evaluate/loop.py`) scores, with `StyleScores`, generated images against
a target style: the paired photo's (style-guided), the paired photo's with random codes (the chance
level a model reaches without a style), another photo's (cross-style: label map of A, photo of B).
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Iterator, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from spade_jax import errors
from spade_jax.data.synthetic.style import SEASONS, TIMES

ATTRIBUTES = (("time", TIMES), ("season", SEASONS))
KINDS = ("joint", "time", "season")


# ----- labels -----
def parse_style(name) -> tuple[int, int]:
  """A synthetic record's name "<split>/<index> <scene> <time> <season>" → (time id, season id)."""
  name = name.decode() if isinstance(name, bytes) else str(name)
  parts = name.split()
  if len(parts) < 4 or parts[-2] not in TIMES or parts[-1] not in SEASONS:
    raise ValueError(f"record name {name!r} does not end with '<time> <season>' "
                     f"(time in {', '.join(TIMES)}; season in {', '.join(SEASONS)})")
  return TIMES.index(parts[-2]), SEASONS.index(parts[-1])


def style_table(source, what: str = "the dataset") -> np.ndarray:
  """`[len(source), 2]` int32 (time id, season id) of every record of a split."""
  try:
    return np.asarray([parse_style(source[i].get("name", "")) for i in range(len(source))], np.int32)
  except ValueError as e:
    raise ValueError(f"{what}: its records carry no style (only the synthetic landscapes do): {e}") from None


# ----- the network -----
class StyleNet(nn.Module):
  """Image `[B, H, W, 3]` in [-1, 1] → (time logits `[B, 5]`, season logits `[B, 4]`).

  Four stride-2 3×3 convs (GELU), mean- and max-pooled, next to the mean / std colour of the image's
  top, middle and bottom thirds (sky light, far and near ground), then one hidden layer and two heads.
  """

  width: int = 16

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = x.astype(jnp.float32)
    bands = jnp.array_split(x, 3, axis=1)
    colour = jnp.concatenate([f(b, axis=(1, 2)) for b in bands for f in (jnp.mean, jnp.std)], -1)
    h = x
    for i, f in enumerate((self.width, 2 * self.width, 4 * self.width, 4 * self.width)):
      h = nn.gelu(nn.Conv(f, (3, 3), strides=2, name=f"conv{i}")(h))
    h = jnp.concatenate([h.mean((1, 2)), h.max((1, 2)), colour], -1)
    h = nn.gelu(nn.Dense(8 * self.width, name="hidden")(h))
    return nn.Dense(len(TIMES), name="time")(h), nn.Dense(len(SEASONS), name="season")(h)


def _augment(rng, images):
  """Half the batch blurred (2× average-pool down, bilinear up), plus a little noise: generated images
  are softer than the photos, and their style should still be read."""
  b, h, w, c = images.shape
  k1, k2, k3 = jax.random.split(rng, 3)
  if h % 2 == 0 and w % 2 == 0:
    small = images.reshape(b, h // 2, 2, w // 2, 2, c).mean((2, 4))
    blurred = jax.image.resize(small, images.shape, "bilinear")
    images = jnp.where(jax.random.bernoulli(k1, 0.5, (b, 1, 1, 1)), blurred, images)
  sigma = jax.random.uniform(k2, (b, 1, 1, 1), maxval=0.06)
  return images + sigma * jax.random.normal(k3, images.shape)


def _loss(net, params, images, labels):
  t, s = net.apply(params, images)
  ce = optax.softmax_cross_entropy_with_integer_labels
  return jnp.mean(ce(t, labels[:, 0])) + jnp.mean(ce(s, labels[:, 1]))


def _log(msg: str) -> None:
  print(msg, flush=True)


def train_classifier(batches: Iterator[dict], table: np.ndarray, steps: int, *, lr: float = 2e-3,
                     width: int = 16, seed: int = 0, augment: bool = True, log=_log) -> dict:
  """Adam + cosine decay on `{"image", "index"}` batches; the targets are `table[index]`."""
  net = StyleNet(width)
  first = next(batches)
  params = jax.jit(net.init)(jax.random.key(seed), jnp.asarray(first["image"][:1]))
  tx = optax.adam(optax.cosine_decay_schedule(lr, steps))
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, images, labels, rng):
    if augment:
      images = _augment(rng, images)
    loss, g = jax.value_and_grad(lambda p: _loss(net, p, images, labels))(params)
    upd, opt = tx.update(g, opt, params)
    return optax.apply_updates(params, upd), opt, loss

  t0, batch, key = time.time(), first, jax.random.key(seed + 1)
  for i in range(steps):
    labels = jnp.asarray(table[np.asarray(batch["index"])])
    params, opt, loss = step(params, opt, jnp.asarray(batch["image"]), labels, jax.random.fold_in(key, i))
    if (i + 1) % max(1, steps // 10) == 0 or i + 1 == steps:
      rate = (i + 1) / (time.time() - t0)
      log(f"style classifier step {i + 1}/{steps}  loss {float(loss):.4f}  {rate:.1f} steps/s  "
          f"ETA {(steps - i - 1) / rate:.0f}s")
    if i + 1 < steps:
      batch = next(batches)
  return params


def quantize(images) -> np.ndarray:
  """[-1, 1] → the uint8 values a saved PNG holds (clipped, truncated) → [-1, 1] (host arrays)."""
  return np.floor(np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0.0, 255.0)) / 127.5 - 1.0


def make_predict(variables: dict, width: int = 16) -> Callable[[np.ndarray], np.ndarray]:
  """→ `predict(images [B, H, W, 3] in [-1, 1])` → int `[B, 2]` (time id, season id), after the
  uint8 quantisation of a saved PNG."""
  net = StyleNet(width)
  apply = jax.jit(lambda images: jnp.stack([jnp.argmax(o, -1) for o in net.apply(variables, images)], -1))
  return lambda images: np.asarray(apply(jnp.asarray(quantize(images))))


# ----- scoring -----
class StyleScores:
  """Accuracies of predicted styles against target styles, accumulated per named test."""

  def __init__(self):
    self.correct: dict[str, np.ndarray] = {}
    self.count: dict[str, int] = {}

  def add(self, test: str, predicted, target) -> None:
    """`predicted`, `target`: int `[N, 2]` (time id, season id)."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape:
      raise ValueError(f"style scores: {predicted.shape} predictions for {target.shape} targets")
    hit = predicted == target
    row = np.array([hit.all(1).sum(), hit[:, 0].sum(), hit[:, 1].sum()], np.int64)
    self.correct[test] = self.correct.get(test, 0) + row
    self.count[test] = self.count.get(test, 0) + len(target)

  def result(self) -> dict:
    """`{test: {"joint", "time", "season", "images"}}` (joint = time and season both right)."""
    return {t: {**{k: float(c / max(self.count[t], 1)) for k, c in zip(KINDS, self.correct[t])},
                "images": int(self.count[t])} for t in self.correct}


def accuracy(predict, batches, table: np.ndarray) -> dict:
  """The classifier on `{"image", "index", "mask"}` batches against `table[index]`."""
  s = StyleScores()
  for b in batches:
    keep = np.asarray(b.get("mask", np.ones(len(b["image"]), bool)), bool)
    s.add("real", predict(np.asarray(b["image"])[keep]), table[np.asarray(b["index"])[keep]])
  return s.result()["real"]


# ----- weights on disk -----
def save(out_dir: str, variables: dict, meta: dict) -> None:
  from spade_jax.evaluate.segmentation import save as save_npz
  save_npz(out_dir, variables, meta)


def load(path: str, what: str = "style classifier") -> tuple[Callable, dict]:
  """A classifier directory → `(predict, meta)`; `meta["weights_file"]` is the file to hash."""
  from spade_jax.evaluate.segmentation import load as load_npz
  if not all(os.path.isfile(os.path.join(path, f)) for f in ("params.npz", "meta.json")):
    raise FileNotFoundError(f"{what}: no params.npz + meta.json in {path}; train it with "
                            f"`python -m spade_jax.evaluate.style --config CONFIG --out {path}`")
  variables, meta = load_npz(path)
  return make_predict(variables, meta.get("width", 16)), {**meta, "weights_file": os.path.join(path, "params.npz")}


def check_resolution(meta: dict, hw, what: str = "style classifier") -> None:
  res = meta.get("resolution")
  if res is not None and tuple(res) != tuple(hw):
    raise ValueError(f"{what}: trained at {res[0]}x{res[1]}, the generator makes {hw[0]}x{hw[1]} images; "
                     "train one at this resolution (python -m spade_jax.evaluate.style --config CONFIG)")


PROTOCOL = ("StyleNet (python -m spade_jax.evaluate.style) on uint8-quantised images; accuracy = the "
            "fraction of val images whose predicted (time of day, season) both equal the target's "
            "(per-attribute rates in `style`); target = the true style of a val photo from its record "
            "name. style_accuracy: label map + its paired photo as style, target that photo; "
            "style_accuracy_random: label map + random codes (the family's diversity inputs), or the "
            "output of a setting given no style at all (SEAN's mean codes), target the paired photo "
            "(the chance level without a style); style_accuracy_real: the real val "
            "photos (the ceiling); style_accuracy_cross: label map of image A with the photo of image B "
            "as style (B = the record one batch earlier, so the first batch is not scored), target B")


def main(argv=None) -> int:
  import argparse
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--config", required=True, help="config file, e.g. configs/spade/synthetic.py")
  ap.add_argument("--out", required=True, help="output directory for params.npz + meta.json")
  ap.add_argument("--steps", type=int, default=1500)
  ap.add_argument("--batch-size", type=int, default=32)
  ap.add_argument("--width", type=int, default=16)
  ap.add_argument("--lr", type=float, default=2e-3)
  ap.add_argument("--seed", type=int, default=0)
  errors.add_verbose_flag(ap)
  args = ap.parse_args(argv)
  for name in ("steps", "batch_size", "width"):
    if getattr(args, name) < 1:
      raise ValueError(f"--{name.replace('_', '-')}={getattr(args, name)} must be ≥ 1")
  from spade_jax.configs.load import load_file
  from spade_jax.data import builders
  from spade_jax.data.pipeline import make_iterator, prepared_dir
  config = load_file(args.config)
  config.batch_size = args.batch_size
  t0 = time.time()
  tables = {s: style_table(builders.open_split(prepared_dir(config), s), f"--config {args.config}")
            for s in ("train", "val")}
  params = train_classifier(iter(make_iterator(config, "train", seed=args.seed)), tables["train"], args.steps,
                            lr=args.lr, width=args.width, seed=args.seed)
  real = accuracy(make_predict(params, args.width), make_iterator(config, "val"), tables["val"])
  meta = {"width": args.width, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
          "seed": args.seed, "times": list(TIMES), "seasons": list(SEASONS),
          "resolution": [round(config.data.crop_size / config.data.aspect_ratio), config.data.crop_size],
          "dataset": config.data.name, "real_val_accuracy": real, "train_seconds": round(time.time() - t0, 1)}
  save(args.out, params, meta)
  print(f"style classifier saved to {args.out}: real val accuracy {real['joint']:.4f} (time "
        f"{real['time']:.4f}, season {real['season']:.4f}; {real['images']} images)")
  return 0


if __name__ == "__main__":
  errors.run_main(main)
