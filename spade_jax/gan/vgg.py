"""Frozen VGG19 feature taps for the perceptual loss (NVlabs/SPADE `models/networks/architecture.py`: `VGG19`, `loss.py`: `VGGLoss`), weights from torchvision's `vgg19`.

Taps after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (torchvision `features` indices 1, 6, 11, 20,
29). Inputs are used as given ([-1, 1] images: the official loss applies no ImageNet normalisation).
Weights: torchvision's `vgg19-dcbb9e9d.pth` state dict (read without torch) or an `.npz` of it;
only `features.<i>.weight/bias` are used. Nothing is downloaded.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# (torchvision features index of each conv, output channels); "M" = 2×2 max-pool.
_LAYOUT = [(0, 64), (2, 64), "M", (5, 128), (7, 128), "M", (10, 256), (12, 256), (14, 256), (16, 256), "M",
           (19, 512), (21, 512), (23, 512), (25, 512), "M", (28, 512)]
TAP_AFTER_CONV = (0, 5, 10, 19, 28)  # the ReLU following these convs is a tap
TAP_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGG19Features(nn.Module):
  """VGG19 `features[:30]`, returning the 5 tap activations (NHWC)."""

  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> list[jax.Array]:
    taps = []
    dtype = self.dtype or x.dtype
    x = x.astype(dtype)
    for item in _LAYOUT:
      if item == "M":
        x = nn.max_pool(x, (2, 2), (2, 2))
        continue
      idx, f = item
      x = nn.relu(nn.Conv(f, (3, 3), padding=((1, 1), (1, 1)), dtype=dtype, name=f"features_{idx}")(x))
      if idx in TAP_AFTER_CONV:
        taps.append(x)
    return taps


def vgg19_params_from_torch(state: Mapping[str, np.ndarray]) -> dict:
  """torchvision vgg19 state dict (`features.<i>.weight` OIHW, `.bias`) → Flax params of VGG19Features."""
  params = {}
  for item in _LAYOUT:
    if item == "M":
      continue
    idx, f = item
    wk, bk = f"features.{idx}.weight", f"features.{idx}.bias"
    if wk not in state or bk not in state:
      raise ValueError(f"VGG19 weights: key {wk!r} or {bk!r} missing; expected torchvision's vgg19 state dict")
    w = np.asarray(state[wk], np.float32)
    if w.shape[0] != f or w.shape[2:] != (3, 3):
      raise ValueError(f"VGG19 weights: {wk} has shape {w.shape}, expected ({f}, *, 3, 3)")
    params[f"features_{idx}"] = {"kernel": jnp.asarray(w.transpose(2, 3, 1, 0)),
                                 "bias": jnp.asarray(np.asarray(state[bk], np.float32))}
  return {"params": params}


def load_vgg19(path: str) -> dict:
  """Loads VGG19 variables from a torchvision `.pth` or an `.npz` with the same keys."""
  if not path:
    raise FileNotFoundError("the VGG perceptual loss needs torchvision's VGG19 weights: set "
                            "train.vgg_weights to vgg19-dcbb9e9d.pth (or an .npz export), or set "
                            "train.no_vgg_loss=True")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"VGG19 weights file not found: {path} (torchvision's vgg19-dcbb9e9d.pth or "
                            "an .npz of its state dict; or set train.no_vgg_loss=True)")
  if path.endswith(".npz"):
    with np.load(path) as f:
      state = {k: f[k] for k in f.files}
  else:
    from spade_jax.io.torch_files import load_state_dict
    state = load_state_dict(path)
  try:
    return vgg19_params_from_torch(state)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None


def perceptual_resources(train_config, image_hw: tuple[int, int]):
  """A family's `load_resources()` for the VGG loss: None with `no_vgg_loss`; random weights with
  `vgg_weights = "random"` (timing runs only); else the weights file `vgg_weights`."""
  if train_config.no_vgg_loss:
    return None
  if train_config.vgg_weights == "random":
    h, w = image_hw
    return VGG19Features().init(jax.random.PRNGKey(0), np.zeros((1, h, w, 3), np.float32))
  return load_vgg19(train_config.vgg_weights)


def features_fn(resources, dtype=None):
  """`x → taps` with the VGG variables `resources` (None → None: no VGG loss)."""
  if resources is None:
    return None
  net = VGG19Features(dtype=dtype)
  return lambda x: net.apply(resources, x)
