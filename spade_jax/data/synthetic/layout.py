"""Procedural landscape layouts: the label map, the instance map and what the renderer needs to shade.

A layout is a pure function of its random generator. Stuff regions (sky, mountain, water, ...) carry
their class id in the instance map; countable things (clouds, trees, rocks) carry `class * 1000 + k`,
the Cityscapes convention, so the official edge rule outlines both class and instance boundaries.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from spade_jax.data.synthetic.noise import fractal1d, fractal2d

CLASSES = ("sky", "cloud", "mountain", "snow", "hill", "water", "sand", "grass", "tree", "rock")
SKY, CLOUD, MOUNTAIN, SNOW, HILL, WATER, SAND, GRASS, TREE, ROCK = range(len(CLASSES))
# Display colours of the classes (for label-map pictures only).
CLASS_COLOURS = ((70, 130, 220), (225, 225, 235), (130, 100, 80), (255, 255, 255), (60, 110, 60),
                 (30, 60, 160), (230, 200, 120), (110, 190, 70), (20, 90, 30), (110, 110, 110))
THING_CLASSES = (CLOUD, TREE, ROCK)
SCENES = ("lake", "coast", "meadow", "river")
_SCENE_P = (0.35, 0.2, 0.27, 0.18)


@dataclasses.dataclass
class Thing:
  """One countable object, in pixels: `(cx, cy)` is its visual centre, `(rx, ry)` its half extents."""
  cls: int
  inst: int
  kind: str  # cloud | conifer | broadleaf | rock
  cx: float
  cy: float
  rx: float
  ry: float
  base: float  # row where the object meets the ground (its bottom)


@dataclasses.dataclass
class Layout:
  label: np.ndarray  # uint8 [H, W] class ids
  instance: np.ndarray  # uint16 [H, W]
  trunk: np.ndarray  # bool [H, W]: tree pixels that are trunk (for shading only)
  horizon: int  # row of the horizon
  scene: str
  things: list[Thing]


def _paint(label, instance, region, cls, inst=None):
  label[region] = cls
  instance[region] = cls if inst is None else inst


def grid(y0, y1, x0, x1):
  """Row and column coordinates of a box, as broadcastable `[n, 1]` and `[1, m]` arrays."""
  return (np.arange(y0, y1, dtype=np.float32)[:, None], np.arange(x0, x1, dtype=np.float32)[None, :])


def _bbox(cx, cy, rx, ry, h, w):
  y0, y1 = max(0, int(cy - ry) - 1), min(h, int(cy + ry) + 2)
  x0, x1 = max(0, int(cx - rx) - 1), min(w, int(cx + rx) + 2)
  return y0, y1, x0, x1


def _cloud_puffs(rng, cx, cy, rx):
  """Ellipses (x, y, rx, ry) whose union is one cloud: a heaped cumulus or a flat stratus."""
  if rng.random() < 0.65:
    puffs = []
    for _ in range(rng.integers(4, 10)):
      px = cx + rng.uniform(-0.8, 0.8) * rx
      pr = rx * rng.uniform(0.18, 0.4) * (1 - 0.55 * abs(px - cx) / rx)
      puffs.append((px, cy - pr * rng.uniform(0.1, 0.9), pr, pr * 0.8))
    return puffs, True
  puffs = []
  for _ in range(rng.integers(3, 7)):
    prx = rx * rng.uniform(0.3, 0.65)
    pry = prx * rng.uniform(0.1, 0.22)
    puffs.append((cx + rng.uniform(-0.6, 0.6) * rx, cy + rng.uniform(-1, 1) * pry, prx, pry))
  return puffs, False


def _clouds(rng, label, instance, noise, horizon, things):
  h, w = label.shape
  n = int(rng.choice(7, p=(0.14, 0.14, 0.18, 0.18, 0.14, 0.12, 0.10)))
  for k in range(n):
    cy = rng.uniform(0.08, 0.8) * horizon
    near = 1.0 - cy / max(horizon, 1)  # clouds high in the sky are nearer, so larger
    rx = w * rng.uniform(0.07, 0.24) * (0.5 + near)
    cx = rng.uniform(-0.1, 1.1) * w
    puffs, heaped = _cloud_puffs(rng, cx, cy, rx)
    y0 = max(0, int(min(p[1] - 1.4 * p[3] for p in puffs)))
    y1 = min(h, int(max(p[1] + 1.4 * p[3] for p in puffs)) + 1)
    x0 = max(0, int(min(p[0] - 1.4 * p[2] for p in puffs)))
    x1 = min(w, int(max(p[0] + 1.4 * p[2] for p in puffs)) + 1)
    if y1 - y0 < 2 or x1 - x0 < 2:
      continue
    yy, xx = grid(y0, y1, x0, x1)
    field = np.full((y1 - y0, x1 - x0), -1.0, np.float32)
    for px, py, prx, pry in puffs:
      field = np.maximum(field, 1 - np.sqrt(((xx - px) / prx) ** 2 + ((yy - py) / pry) ** 2))
    field += 0.3 * noise[y0:y1, x0:x1]
    mask = (field > 0.1) & (label[y0:y1, x0:x1] == SKY)
    if heaped:
      mask &= yy < cy + rx * 0.06  # flat cloud base
    if mask.sum() < 4:
      continue
    inst = CLOUD * 1000 + k + 1
    _paint(label[y0:y1, x0:x1], instance[y0:y1, x0:x1], mask, CLOUD, inst)
    ys = np.nonzero(mask.any(axis=1))[0]
    top, bottom = y0 + ys[0], y0 + ys[-1]
    things.append(Thing(CLOUD, inst, "cloud", cx, (top + bottom) / 2, rx, max((bottom - top) / 2, 1),
                        bottom))


def _ridge(rng, w, horizon, amp, cells, octaves=6, persistence=0.55, peaky=1.0):
  """Row of a skyline per column: `amp` rows above the horizon at the highest point."""
  n = (fractal1d(rng, w, cells, octaves, persistence) + 1) / 2
  n = (n - n.min()) / max(float(np.ptp(n)), 1e-6)
  return horizon - amp * (0.25 + 0.75 * n ** peaky)


def _mountains_and_hills(rng, label, instance, noise, horizon, rows):
  h, w = label.shape
  if rng.random() < 0.78:
    amp = h * rng.uniform(0.08, 0.3)
    ridge = _ridge(rng, w, horizon, amp, int(rng.integers(2, 5)), peaky=rng.uniform(1.0, 1.8))
    mask = (rows >= ridge[None, :]) & (rows < horizon)
    _paint(label, instance, mask, MOUNTAIN)
    if rng.random() < 0.55:
      snow_h = amp * rng.uniform(0.55, 0.85)
      wobble = h * 0.03 * noise
      _paint(label, instance, mask & (horizon - rows + wobble > snow_h), SNOW)
  if rng.random() < 0.55:
    amp = h * rng.uniform(0.02, 0.09)
    ridge = _ridge(rng, w, horizon, amp, int(rng.integers(1, 4)), octaves=5, persistence=0.45)
    _paint(label, instance, (rows >= ridge[None, :]) & (rows < horizon), HILL)


def _ground(rng, label, instance, noise, horizon, rows, cols) -> str:
  h, w = label.shape
  ground = rows >= horizon
  depth = np.clip((rows - horizon) / max(h - horizon, 1), 0, 1)  # 0 at the horizon, 1 at the bottom
  scene = SCENES[int(rng.choice(len(SCENES), p=_SCENE_P))]
  if scene == "coast":
    _paint(label, instance, ground, SAND)
  else:
    _paint(label, instance, ground, GRASS)
  if scene in ("lake", "coast"):
    d = rng.uniform(0.12, 0.35) if scene == "lake" else rng.uniform(0.25, 0.55)
    n = fractal1d(rng, w, int(rng.integers(1, 4)), 5, 0.5)
    wiggle = 0.4 if scene == "lake" else 0.25
    shore = horizon + (h - horizon) * d * (0.7 + wiggle * n + (0.0 if scene == "coast" else -0.2))
    water = ground & (rows < shore[None, :])
    if scene == "lake" and rng.random() < 0.65:
      beach = ground & (rows < shore[None, :] + (h - horizon) * rng.uniform(0.02, 0.07))
      _paint(label, instance, beach, SAND)
    _paint(label, instance, water, WATER)
  elif scene == "river":
    center = w * (rng.uniform(0.25, 0.75) + 0.25 * fractal1d(rng, h, 3, 3))
    half = w * (0.01 + depth[:, 0] * rng.uniform(0.12, 0.3))
    dist = np.abs(cols - center[:, None])
    if rng.random() < 0.5:
      _paint(label, instance, ground & (dist < half[:, None] * 1.25 + 1), SAND)
    _paint(label, instance, ground & (dist < half[:, None]), WATER)
  elif rng.random() < 0.4:  # meadow with a pond
    cy = horizon + (h - horizon) * rng.uniform(0.2, 0.6)
    ry = (h - horizon) * rng.uniform(0.05, 0.15)
    rx = ry * rng.uniform(3, 7)
    cx = w * rng.uniform(0.2, 0.8)
    wob = 0.3 * noise
    pond = ground & ((((cols - cx) / rx) ** 2 + ((rows - cy) / ry) ** 2) < 1 + wob)
    _paint(label, instance, pond, WATER)
  return scene


def _tree(rng, label, instance, trunk, noise, x, y, size, inst, things):
  """Draws a tree whose trunk stands on (x, y) with height `size` pixels."""
  h, w = label.shape
  conifer = rng.random() < 0.5
  if conifer:
    rx, top = size * rng.uniform(0.18, 0.28), y - size
    crown_bottom = y - size * 0.12
  else:
    rx, top = size * rng.uniform(0.28, 0.42), y - size
    crown_bottom = y - size * 0.3
  y0, y1, x0, x1 = _bbox(x, (top + y) / 2, rx * 1.2, size / 2, h, w)
  if y1 - y0 < 2 or x1 - x0 < 1:
    return
  yy, xx = grid(y0, y1, x0, x1)
  tw = max(0.6, size * 0.035)
  stem = (np.abs(xx - x) <= tw) & (yy <= y) & (yy >= crown_bottom - size * 0.1)
  noise = noise[y0:y1, x0:x1]
  if conifer:
    t = np.clip((yy - top) / max(crown_bottom - top, 1), 0, 1)  # 0 at the tip, 1 at the crown bottom
    tiers = 0.75 + 0.25 * ((t * rng.integers(3, 7)) % 1.0)
    half = rx * t * tiers * (1 + 0.25 * noise)
    crown = (np.abs(xx - x) <= half) & (yy >= top) & (yy <= crown_bottom)
    cy, ry = (top + crown_bottom) / 2, (crown_bottom - top) / 2
  else:
    cy, ry = (top + crown_bottom) / 2, (crown_bottom - top) / 2
    d = np.sqrt(((xx - x) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    crown = d < 1 + 0.35 * noise
  mask = (crown | stem) & (yy <= y)
  if mask.sum() < 3:
    return
  _paint(label[y0:y1, x0:x1], instance[y0:y1, x0:x1], mask, TREE, inst)
  trunk[y0:y1, x0:x1][mask] = (stem & ~crown)[mask]
  things.append(Thing(TREE, inst, "conifer" if conifer else "broadleaf", x, cy, rx, ry, y))


def _rock(rng, label, instance, trunk, noise, x, y, size, inst, things):
  h, w = label.shape
  rx, ry = size, size * rng.uniform(0.45, 0.8)
  y0, y1, x0, x1 = _bbox(x, y - ry / 2, rx * 1.2, ry * 0.7, h, w)
  if y1 - y0 < 1 or x1 - x0 < 2:
    return
  yy, xx = grid(y0, y1, x0, x1)
  ang = np.arctan2(yy - y, xx - x)
  lumps = 1 + 0.18 * np.sin(ang * rng.integers(2, 5) + rng.uniform(0, 6.3))
  d = np.sqrt(((xx - x) / rx) ** 2 + ((yy - y) / ry) ** 2) / lumps
  d += 0.12 * noise[y0:y1, x0:x1]
  mask = (d < 1) & (yy <= y + ry * 0.12)
  if mask.sum() < 3:
    return
  _paint(label[y0:y1, x0:x1], instance[y0:y1, x0:x1], mask, ROCK, inst)
  trunk[y0:y1, x0:x1][mask] = False
  things.append(Thing(ROCK, inst, "rock", x, y - ry / 2, rx, ry, y))


def _trees_and_rocks(rng, label, instance, trunk, noise, horizon, scene, things):
  h, w = label.shape
  n_trees = {"coast": rng.integers(0, 4), "lake": rng.integers(0, 22),
             "meadow": rng.integers(0, 30), "river": rng.integers(0, 26)}[scene]
  n_rocks = {"coast": rng.integers(1, 9), "lake": rng.integers(0, 6),
             "meadow": rng.integers(0, 5), "river": rng.integers(0, 7)}[scene]
  # Trees grow in a few groves; rocks anywhere. Far objects (near the horizon) are small.
  groves = [(rng.uniform(0, w), rng.uniform(0.05, 0.9)) for _ in range(rng.integers(1, 4))]
  cand = []
  for _ in range(int(n_trees)):
    gx, gd = groves[rng.integers(len(groves))]
    d = float(np.clip(gd + rng.normal(0, 0.12), 0.02, 1.0)) ** 1.3
    cand.append(("tree", gx + rng.normal(0, w * 0.12) * (0.4 + d), d))
  for _ in range(int(n_rocks)):
    cand.append(("rock", rng.uniform(0, w), rng.uniform(0.05, 1.0) ** 1.2))
  cand.sort(key=lambda c: c[2])  # back to front
  counts = {TREE: 0, ROCK: 0}
  for kind, x, d in cand:
    y = horizon + d * (h - 1 - horizon) + rng.uniform(0, 0.04) * h
    y = min(y, h - 1)
    yi, xi = int(y), int(np.clip(x, 0, w - 1))
    under = label[yi, xi]
    if kind == "tree" and under == GRASS:
      size = (y - horizon + 0.02 * h) * rng.uniform(0.7, 1.6)
      counts[TREE] += 1
      _tree(rng, label, instance, trunk, noise, x, y, max(size, 4.0), TREE * 1000 + counts[TREE],
            things)
    elif kind == "rock" and under in (GRASS, SAND, WATER):
      size = (y - horizon + 0.01 * h) * rng.uniform(0.06, 0.25) + 1.5
      counts[ROCK] += 1
      _rock(rng, label, instance, trunk, noise, x, y, size, ROCK * 1000 + counts[ROCK], things)


def make_layout(rng: np.random.Generator, h: int, w: int) -> Layout:
  """Draws one landscape layout of `h x w` pixels."""
  label = np.full((h, w), SKY, np.uint8)
  instance = np.full((h, w), SKY, np.uint16)
  trunk = np.zeros((h, w), bool)
  rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
  horizon = int(h * rng.uniform(0.36, 0.62))
  things: list[Thing] = []
  noise = fractal2d(rng, h, w, (12, 12), 3)  # shared by every object's outline
  _clouds(rng, label, instance, noise, horizon, things)
  _mountains_and_hills(rng, label, instance, noise, horizon, rows)
  scene = _ground(rng, label, instance, noise, horizon, rows, cols)
  _trees_and_rocks(rng, label, instance, trunk, noise, horizon, scene, things)
  # Things can be painted over later by nearer things; keep only those still visible.
  visible = set(np.nonzero(np.bincount(instance.ravel()))[0].tolist())
  things = [t for t in things if t.inst in visible]
  return Layout(label, instance, trunk, horizon, scene, things)
