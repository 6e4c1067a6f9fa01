"""The per-image global style of a synthetic photo: time of day, season, haze and sun position.

The style is drawn independently of the layout, so one label map has many plausible photos: this is
what multimodal synthesis and the style encoder can learn.
"""

from __future__ import annotations

import dataclasses

import numpy as np

TIMES = ("day", "golden", "sunset", "overcast", "night")
_TIME_P = (0.42, 0.18, 0.15, 0.15, 0.10)
SEASONS = ("spring", "summer", "autumn", "winter")

# time -> (sky at the zenith, sky at the horizon, colour of the direct light, ambient level)
_SKY = {
    "day": ((0.22, 0.42, 0.82), (0.68, 0.80, 0.94), (1.00, 0.98, 0.94), 0.35),
    "golden": ((0.30, 0.45, 0.78), (0.98, 0.82, 0.58), (1.05, 0.88, 0.66), 0.35),
    "sunset": ((0.16, 0.17, 0.42), (1.00, 0.52, 0.28), (0.95, 0.58, 0.40), 0.30),
    "overcast": ((0.55, 0.58, 0.62), (0.80, 0.81, 0.83), (0.80, 0.82, 0.85), 0.65),
    "night": ((0.02, 0.035, 0.10), (0.14, 0.17, 0.32), (0.32, 0.37, 0.55), 0.55),
}


@dataclasses.dataclass(frozen=True)
class Style:
  time: str
  season: str
  haze: float  # 0 (clear) .. 1 (foggy)
  sun_x: float  # horizontal sun position in [0, 1]; also the side the light comes from
  tint: tuple[float, float, float]  # small per-image colour cast

  @property
  def sky_top(self) -> np.ndarray:
    return np.asarray(_SKY[self.time][0], np.float32) * self.tint

  @property
  def sky_horizon(self) -> np.ndarray:
    return np.asarray(_SKY[self.time][1], np.float32) * self.tint

  @property
  def light(self) -> np.ndarray:
    return np.asarray(_SKY[self.time][2], np.float32)

  @property
  def ambient(self) -> float:
    return _SKY[self.time][3]

  def as_dict(self) -> dict:
    return {"time": self.time, "season": self.season, "haze": round(self.haze, 3),
            "sun_x": round(self.sun_x, 3)}


def sample_style(rng: np.random.Generator) -> Style:
  time = TIMES[int(rng.choice(len(TIMES), p=_TIME_P))]
  season = SEASONS[int(rng.integers(len(SEASONS)))]
  haze = float(rng.beta(1.2, 3.0))
  if time == "overcast":
    haze = min(1.0, haze + 0.25)
  tint = tuple(float(t) for t in 1 + rng.normal(0, 0.03, 3))
  return Style(time, season, haze, float(rng.uniform(0.05, 0.95)), tint)
