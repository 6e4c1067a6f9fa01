"""Discovery and loading of the SinGAN parity fixtures (every `<name>.json` + `<name>.npz` pair in
`$SPADE_PARITY_DIR/singan/`, default `../shared/parity/singan/`); no fixture is named in code."""

from __future__ import annotations

import functools
import json
import os
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PARITY = pathlib.Path(os.environ.get("SPADE_PARITY_DIR", REPO.parent / "shared" / "parity")) / "singan"


def fixture_names() -> list[str]:
  if not PARITY.is_dir():
    return []
  return sorted(p.stem for p in PARITY.glob("*.json") if (PARITY / f"{p.stem}.npz").is_file())


def params(fn=None):
  """`pytest.mark.parametrize` over the fixture names (one skipped case when there are none)."""
  names = fixture_names()
  if not names:
    return pytest.mark.parametrize("fixture_name", [pytest.param(
        None, marks=pytest.mark.skip(reason=f"no SinGAN parity fixtures in {PARITY}"))])
  return pytest.mark.parametrize("fixture_name", names, ids=names)


class Fixture:
  def __init__(self, name: str):
    self.name = name
    self.meta_json = json.loads((PARITY / f"{name}.json").read_text())
    self.npz = np.load(PARITY / f"{name}.npz")
    self.keys = set(self.npz.files)

  @property
  def meta(self):
    return self.meta_json["meta"]

  @property
  def options(self):
    return self.meta["options_after_training"]

  def raw(self, key):
    return self.npz[key]

  def nhwc(self, key) -> np.ndarray:
    """A stored NCHW float tensor as NHWC float32."""
    a = np.asarray(self.npz[key])
    if a.ndim == 4:
      a = np.transpose(a, (0, 2, 3, 1))
    return a.astype(np.float32)

  def state(self, prefix: str) -> dict:
    """The state_dict stored under `prefix/` (float16 entries cast to float32)."""
    p = prefix.rstrip("/") + "/"
    out = {}
    for k in self.npz.files:
      if k.startswith(p) and "/" not in k[len(p):]:
        v = self.npz[k]
        out[k[len(p):]] = v.astype(np.float32) if v.dtype == np.float16 else v
    return out

  def draws(self, phase: str) -> list[np.ndarray]:
    """The recorded torch.randn / torch.rand draws of one phase, in order (NCHW as stored)."""
    entries = self.meta_json["draws"].get(phase, [])
    return [np.asarray(self.npz[e["key"]], np.float32) for e in entries]


@functools.lru_cache(maxsize=None)
def load(name: str) -> Fixture:
  return Fixture(name)
