"""Discovery and loading of the SinGAN parity fixtures (every `<name>.json` + `<name>.npz` pair in
`$SPADE_PARITY_DIR/singan/`, default `../shared/parity/singan/`); no fixture is named in code."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from model_utils import missing, parity_dir, parity_fixtures

PARITY = parity_dir("singan")


def fixture_names() -> list[str]:
  return [p.name for p in parity_fixtures("singan")]


def skip_reason() -> str:
  return missing("SinGAN parity fixtures", PARITY) if not PARITY.is_dir() else \
      f"no <name>.json + <name>.npz parity fixtures in {PARITY}"


def params(fn=None):
  """`pytest.mark.parametrize` over the fixture names (one skipped case with the reason when there are none)."""
  names = fixture_names()
  if not names:
    return pytest.mark.parametrize("fixture_name", [pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()))],
                                   ids=["no-fixtures"])
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
