"""Renders a photo from a landscape layout and a global style.

Every pixel's colour comes from its class (albedo and texture), lit by the style's light with
class-specific shading (faces on mountains, round crowns, domed rocks, puffy clouds), then hazed
towards the horizon colour with distance. Water mirrors what is rendered above the horizon.

Colour arrays are channel-first `[3, H, W]` and regions are blended with float masks: on numpy this
is several times faster than boolean indexing of `[H, W, 3]` arrays.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from spade_jax.data.synthetic import layout as L
from spade_jax.data.synthetic.noise import fractal2d
from spade_jax.data.synthetic.style import Style

_GRASS = {"spring": (0.36, 0.60, 0.20), "summer": (0.26, 0.46, 0.14), "autumn": (0.56, 0.50, 0.24),
          "winter": (0.50, 0.47, 0.36)}
_LEAVES = {"spring": ((0.38, 0.62, 0.22), (0.50, 0.68, 0.28)),
           "summer": ((0.14, 0.34, 0.10), (0.22, 0.42, 0.14)),
           "autumn": ((0.80, 0.38, 0.08), (0.86, 0.62, 0.14), (0.62, 0.18, 0.08), (0.42, 0.44, 0.14)),
           "winter": ((0.34, 0.28, 0.24), (0.40, 0.36, 0.32))}
_CONIFER = {"spring": (0.12, 0.30, 0.14), "summer": (0.08, 0.24, 0.10), "autumn": (0.10, 0.24, 0.10),
            "winter": (0.12, 0.22, 0.16)}
_HILL = {"spring": (0.24, 0.42, 0.18), "summer": (0.14, 0.28, 0.12), "autumn": (0.42, 0.32, 0.14),
         "winter": (0.55, 0.56, 0.58)}
_TRUNK = (0.28, 0.19, 0.12)
_SNOW = (0.95, 0.96, 0.98)
_SOFTEN = ImageFilter.Kernel((3, 3), np.outer((0.2, 0.6, 0.2), (0.2, 0.6, 0.2)).ravel().tolist(), 1)


def _rgb(c) -> np.ndarray:
  """A colour as a `[3, 1, 1]` array that broadcasts over `[3, H, W]`."""
  return np.asarray(c, np.float32).reshape(3, 1, 1)


def _mix(a, b, t):
  return a + (b - a) * t


def _jitter(rng, rgb, s=0.06) -> np.ndarray:
  return np.clip(_rgb(rgb) * (1 + rng.normal(0, s, (3, 1, 1))), 0, 1).astype(np.float32)


def _smooth(v: np.ndarray, r: int) -> np.ndarray:
  k = np.ones(2 * r + 1, np.float32) / (2 * r + 1)
  return np.convolve(np.pad(v, r, mode="edge"), k, mode="valid")


def _object_coords(lay: L.Layout, h: int, w: int):
  """Per pixel of a thing: its position relative to the thing (x, y in about [-1, 1]) and the row
  where it stands (-1 elsewhere)."""
  ox = np.zeros((h, w), np.float32)
  oy = np.zeros((h, w), np.float32)
  base = np.full((h, w), -1.0, np.float32)
  for t in lay.things:
    y0, y1 = max(0, int(t.cy - t.ry * 1.3) - 1), min(h, int(t.base) + 2)
    x0, x1 = max(0, int(t.cx - t.rx * 1.3) - 1), min(w, int(t.cx + t.rx * 1.3) + 2)
    if y1 <= y0 or x1 <= x0:
      continue
    m = lay.instance[y0:y1, x0:x1] == t.inst
    yy, xx = L.grid(y0, y1, x0, x1)
    ox[y0:y1, x0:x1] = np.where(m, (xx - t.cx) / max(t.rx, 1), ox[y0:y1, x0:x1])
    oy[y0:y1, x0:x1] = np.where(m, (yy - t.cy) / max(t.ry, 1), oy[y0:y1, x0:x1])
    base[y0:y1, x0:x1][m] = t.base
  return ox, oy, base


def _mountain_faces(mtn, hz, light_dir, wander, detail):
  """Shading of mountain pixels: the skyline's slope carried down along wandering faces."""
  h, w = mtn.shape
  top = np.where(mtn.any(axis=0), mtn.argmax(axis=0), hz).astype(np.float32)
  height = hz - top
  fine, coarse = np.gradient(_smooth(height, 2)), np.gradient(_smooth(height, 7))
  rows = np.arange(h, dtype=np.float32)[:, None]
  below = np.clip((rows - top[None, :]) / max(float(height.max()), 1.0), 0, 1)
  xs = np.clip(np.arange(w)[None, :] + below * w * 0.15 * wander, 0, w - 1).astype(np.int32)
  slope = fine[xs] * (1 - below) + coarse[xs] * below
  return np.clip(0.7 + 0.42 * light_dir * np.tanh(slope * 1.2) + 0.2 * (detail - 0.5)
                 - 0.15 * below, 0.2, 1.25).astype(np.float32)


def _sky(style: Style, h, w, horizon):
  """The sky above the horizon (rows below it repeat the horizon colour)."""
  full_h, h = h, max(horizon, 1)
  rows = np.arange(h, dtype=np.float32)[:, None]
  cols = np.arange(w, dtype=np.float32)[None, :]
  t = np.broadcast_to(np.clip(rows / max(horizon, 1), 0, 1) ** 0.8, (h, w))
  sky = _mix(_rgb(style.sky_top), _rgb(style.sky_horizon), t)
  if style.time in ("golden", "sunset", "day"):
    sy = horizon - (0.06 if style.time != "day" else 0.45) * h
    d = np.sqrt((cols - style.sun_x * w) ** 2 + ((rows - sy) * 1.3) ** 2) / w
    glow = np.exp(-d / (0.12 if style.time != "day" else 0.2))
    strength = {"golden": 0.55, "sunset": 0.7, "day": 0.18}[style.time]
    sky = sky + strength * glow * (_rgb(style.light) - sky * 0.5)
    if style.time != "day":
      disc = (d < 0.025).astype(np.float32)
      sky = _mix(sky, np.minimum(1.0, _rgb(style.light) * 1.1), disc)
  below = np.broadcast_to(sky[:, -1:], (3, full_h - h, w))
  return np.concatenate([sky, below], axis=1).astype(np.float32)


class _Canvas:
  """Albedo `[3, H, W]`, shading `[H, W]` and an emissive mask, painted class by class."""

  def __init__(self, lab):
    h, w = lab.shape
    self.lab = lab
    self.albedo = np.zeros((3, h, w), np.float32)
    self.shade = np.ones((h, w), np.float32)
    self.emissive = np.zeros((h, w), np.float32)
    self.present = set(np.nonzero(np.bincount(lab.ravel()))[0].tolist())

  def mask(self, cls) -> np.ndarray:
    return (self.lab == cls).astype(np.float32)

  def put(self, cls, color, shade=None, emissive=False):
    m = self.mask(cls)
    self.albedo += (color - self.albedo) * m
    if shade is not None:
      self.shade += (shade - self.shade) * m
    if emissive:
      self.emissive = np.maximum(self.emissive, m)


def render_photo(rng: np.random.Generator, lay: L.Layout, style: Style) -> np.ndarray:
  """Returns the photo as uint8 `[H, W, 3]`."""
  lab = lay.label
  h, w = lab.shape
  hz = lay.horizon
  rows = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
  depth = np.clip((rows - hz) / max(h - hz, 1), 0, 1)  # ground: 0 at the horizon, 1 at the bottom
  ox, oy, obase = _object_coords(lay, h, w)
  light_dir = 1.0 if style.sun_x < 0.5 else -1.0  # +1: light comes from the left
  winter = style.season == "winter"
  light = _rgb(style.light)
  cv = _Canvas(lab)
  present = cv.present
  # Shared noise fields: classes never overlap, so one field can texture several of them.
  coarse = fractal2d(rng, h, w, (5, 5), 4)
  mid = fractal2d(rng, h, w, (h / 10, w / 10), 3)
  fine = fractal2d(rng, h, w, (h / 3, w / 1.5), 2, smooth=False)

  sky = _sky(style, h, w, hz)
  if style.time == "night":
    stars = ((rng.random((h, w)) > 0.997) & (rows < hz * 0.8)).astype(np.float32)
    sky = _mix(sky, 0.85, stars * (lab == L.SKY))
  cv.put(L.SKY, sky, emissive=True)
  if L.CLOUD in present:
    top = np.clip(0.5 - 0.5 * oy, 0, 1)  # 1 at the cloud top, 0 at its base
    lit = np.minimum(1.0, light * (0.95 + 0.1 * style.ambient))
    base = _mix(_rgb(style.sky_top), _rgb(style.sky_horizon), 0.35) * 0.75 + 0.12
    if style.time in ("sunset", "golden"):
      base = _mix(base, _rgb(style.sky_horizon), 0.6)
    cloud = _mix(base, lit, top ** 0.8) * (1 + 0.08 * coarse)
    cv.put(L.CLOUD, _mix(cloud, sky, 0.15), emissive=True)

  if L.MOUNTAIN in present or L.SNOW in present:
    faces = _mountain_faces(np.isin(lab, (L.MOUNTAIN, L.SNOW)), hz, light_dir, coarse,
                            1 - np.abs(mid))
    gullies = fractal2d(rng, h, w, (2, 24), 3)
    rock = _jitter(rng, (0.46, 0.43, 0.42) if rng.random() < 0.6 else (0.50, 0.42, 0.34), 0.08)
    cv.put(L.MOUNTAIN, rock * (0.94 + 0.08 * gullies), faces)
    shadowed = (faces < 0.7).astype(np.float32)
    snow = _mix(_rgb(_SNOW), _mix(_rgb(_SNOW), _rgb(style.sky_top), 0.3), shadowed)
    cv.put(L.SNOW, snow, np.clip(faces * 0.4 + 0.62, 0.5, 1.1))
  if L.HILL in present:
    cv.put(L.HILL, _jitter(rng, _HILL[style.season]), 0.8 + 0.25 * mid)

  if L.GRASS in present:
    grass = _jitter(rng, _GRASS[style.season]) * (1 + 0.18 * coarse + 0.22 * fine * depth)
    grass = grass * (0.85 + 0.2 * depth)
    if winter:
      snowy = np.clip((coarse + 0.1 * fine - rng.uniform(-0.5, 0.1)) * 8, 0, 1)
      grass = _mix(grass, 0.88 + 0.05 * fine, snowy)
    cv.put(L.GRASS, grass, 0.9 + 0.1 * coarse)
  if L.SAND in present:
    sand = _jitter(rng, (0.86, 0.76, 0.56) if not winter else (0.80, 0.76, 0.66), 0.05)
    ripples = np.sin(rows * (0.8 + 3.0 * (1 - depth)) + 3 * coarse)
    cv.put(L.SAND, sand * (1 + 0.06 * coarse + 0.03 * fine), 0.92 + 0.05 * ripples * depth)

  if L.TREE in present:  # per-tree colour, round crowns lit from the sun's side
    trees = np.zeros((3, h, w), np.float32)
    for t in lay.things:
      if t.cls == L.TREE:
        pal = _CONIFER[style.season] if t.kind == "conifer" else \
            _LEAVES[style.season][rng.integers(len(_LEAVES[style.season]))]
        m = (lay.instance == t.inst).astype(np.float32)
        trees += _jitter(rng, pal, 0.1) * m
    trunk = lay.trunk.astype(np.float32)
    trees = _mix(trees, _rgb(_TRUNK), trunk)
    if winter:
      trees = _mix(trees, 0.92, (mid > 0.3) * (1 - trunk) * 0.7)
    crown = 0.82 - 0.3 * light_dir * ox - 0.18 * oy + 0.3 * mid
    cv.put(L.TREE, trees * (1 + 0.1 * mid), crown)
  if L.ROCK in present:
    stone = _jitter(rng, (0.52, 0.50, 0.47), 0.08) * (1 + 0.12 * mid)
    cv.put(L.ROCK, stone, np.clip(0.85 - 0.35 * light_dir * ox - 0.3 * oy + 0.1 * mid, 0.2, 1.3))

  _contact_shadows(lay, cv, light_dir)
  lit = cv.albedo * (style.ambient + (1 - style.ambient) * cv.shade) * light
  img = _mix(lit, cv.albedo, cv.emissive)

  # Aerial perspective: far things fade towards the horizon colour; things haze as their base.
  stand = np.where((obase >= 0) & (lab != L.CLOUD), obase, rows)
  far = np.where(stand < hz, 0.0, 1 - np.sqrt(np.clip((stand - hz) / max(h - hz, 1), 0, 1)))
  far = np.where(np.isin(lab, (L.MOUNTAIN, L.SNOW)), 0.55, far)
  far = np.where(lab == L.HILL, 0.4, far)
  haze = np.clip((0.18 + 0.6 * style.haze) * far, 0, 0.85) * (1 - cv.emissive)
  img = _mix(img, _rgb(style.sky_horizon), haze)

  if L.WATER in present:
    img[:, hz:] = _mix(img[:, hz:], _water(rng, img, lay, style), cv.mask(L.WATER)[hz:])

  img = img * 255 + rng.random((h, w), np.float32) * 6 - 2.5  # sensor grain (and rounding)
  out = Image.fromarray(np.moveaxis(np.clip(img, 0, 255), 0, -1).astype(np.uint8))
  return np.asarray(out.filter(_SOFTEN))  # a slight lens blur


def _contact_shadows(lay, cv, light_dir):
  """Darkens the ground under trees and rocks, offset away from the sun."""
  h, w = lay.label.shape
  ground = (lay.label == L.GRASS) | (lay.label == L.SAND)
  for t in lay.things:
    if t.cls not in (L.TREE, L.ROCK):
      continue
    sx, sr = t.cx + light_dir * t.rx * 0.6, t.rx * 1.2
    y0, y1 = max(0, int(t.base - sr * 0.25)), min(h, int(t.base + sr * 0.3) + 1)
    x0, x1 = max(0, int(sx - sr)), min(w, int(sx + sr) + 1)
    if y1 <= y0 or x1 <= x0:
      continue
    yy, xx = L.grid(y0, y1, x0, x1)
    d = ((xx - sx) / sr) ** 2 + ((yy - t.base) / (sr * 0.25)) ** 2
    cv.shade[y0:y1, x0:x1] *= np.where(ground[y0:y1, x0:x1] & (d < 1), 0.55 + 0.45 * d, 1.0)


def _water(rng, img, lay, style):
  """Water colour below the horizon: a rippled mirror of the scene above it over a deep tint."""
  h, w = lay.label.shape
  hz = lay.horizon
  n = h - hz
  depth = (np.arange(n, dtype=np.float32) / max(n, 1))[:, None]
  cols = np.arange(w, dtype=np.float32)[None, :]
  k = np.clip(hz - 1 - np.arange(n), 0, max(hz - 1, 0)).astype(np.int32)[:, None]
  ripple = fractal2d(rng, h, w, (h / 4, 5), 3)[:n]
  shift = np.clip(cols + ripple * (1 + 6 * depth), 0, w - 1).astype(np.int32)
  mirror = img[:, k, shift]
  deep = _jitter(rng, (0.06, 0.20, 0.26) if rng.random() < 0.7 else (0.10, 0.24, 0.20), 0.1)
  deep = deep * _rgb(style.light) * (style.ambient + 0.5)
  fresnel = 0.35 + 0.6 * (1 - depth) ** 2
  water = _mix(deep, mirror * 0.85, fresnel) * (1 + 0.12 * ripple)
  if style.time in ("golden", "sunset"):
    glitter = np.exp(-np.abs(cols - style.sun_x * w) / (0.03 * w + 0.12 * w * depth))
    water = water + 0.5 * glitter * np.clip(ripple + 0.2, 0, 1) * _rgb(style.light)
  return water
