"""Static settings of SinGAN training and of a trained pyramid's layout (field names are the official
option names)."""

from __future__ import annotations

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class Hyper:
  """Per-scale training options (official defaults, except `official_grad`: True reproduces torch 1.4's
  G steps, what the official results and the parity fixtures use; False, the default, regenerates the fake
  at every G step)."""
  niter: int = 2000
  Dsteps: int = 3
  Gsteps: int = 3
  lambda_grad: float = 0.1
  alpha: float = 10.0
  lr_g: float = 0.0005
  lr_d: float = 0.0005
  beta1: float = 0.5
  beta2: float = 0.999
  eps: float = 1e-8
  gamma: float = 0.1
  milestone: int = 1600
  noise_amp_init: float = 0.1
  nc_z: int = 3
  nc_im: int = 3
  num_layer: int = 5
  official_grad: bool = False  # measured better on one image (bench/singan_grad_modes.py); True = torch 1.4
  # Unroll the D and G steps of an epoch: XLA:CPU runs them ~4x faster than as a while loop, but the
  # epoch then compiles ~3x longer (tests and tiny runs set False).
  unroll: bool = True


@dataclasses.dataclass(frozen=True)
class Layout:
  """A pyramid's static shape facts: (H, W) and (nfc, min_nfc) of every scale, the adjusted factor."""
  shapes: Tuple[Tuple[int, int], ...]
  widths: Tuple[Tuple[int, int], ...]
  scale_factor: float
  nc_z: int = 3
  num_layer: int = 5

  @property
  def num_scales(self) -> int:
    return len(self.shapes)
