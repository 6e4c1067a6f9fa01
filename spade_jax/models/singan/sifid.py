"""SIFID (single-image FID, SinGAN's `SIFID/sifid_score.py`): the Fréchet distance between the
statistics of one real and one fake image's features, every spatial position of the feature map one
sample.

Network: InceptionV3's first block only, Conv2d_1a_3x3 (stride 2), Conv2d_2a_3x3, Conv2d_2b_3x3
(64 channels), each conv (no bias) → BatchNorm (running statistics, eps 1e-3) → ReLU, taken **before**
the first max-pool; no resize; input `2x - 1` for an image x in [0, 1]. Statistics: the mean and the
unbiased covariance of the positions; the distance: scipy `sqrtm` with the 1e-6 diagonal fallback,
real part (the eval harness's `frechet_distance`).

Weights:
  * `load_torchvision_block0(path)`: torchvision's ImageNet `inception_v3` weights
    (`inception_v3_google-*.pth`), what the official SIFID uses; they cannot be downloaded at run time,
    so the user gives the file;
  * `load_fid_block0(path=None)`: the same three layers of the FID Inception the eval harness uses
    (TF-graph weights, no BN scale): **a labelled variant** ("SIFID-FID-block0"), not the official
    numbers, that works with the project's FID weights.
"""

from __future__ import annotations

import os
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.evaluate.fid import fid_statistics, frechet_distance
from spade_jax.evaluate.nets.inception import BN_EPS, ConvBN

LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3")
SHAPES = {"Conv2d_1a_3x3": (32, 3), "Conv2d_2a_3x3": (32, 32), "Conv2d_2b_3x3": (64, 32)}  # (out, in)
VARIANT_TORCHVISION = "SIFID (torchvision ImageNet InceptionV3 block 0, official)"
VARIANT_FID = "SIFID-FID-block0 (FID InceptionV3 block 0: a variant, not comparable with official SIFID)"


class Block0(nn.Module):
  """`[N, H, W, 3]` in [-1, 1] → the 64-channel map before the first max-pool."""

  @nn.compact
  def __call__(self, x):
    x = ConvBN(32, (3, 3), strides=2, padding="valid", name="Conv2d_1a_3x3")(x)
    x = ConvBN(32, (3, 3), padding="valid", name="Conv2d_2a_3x3")(x)
    return ConvBN(64, (3, 3), name="Conv2d_2b_3x3")(x)


def block0_from_state_dict(state: Mapping[str, np.ndarray], source: str) -> dict:
  """Variables of `Block0` from torchvision-named `<layer>.conv.weight`, `<layer>.bn.{weight, bias,
  running_mean, running_var}`; the BN scale is folded into the kernel and the mean (the port has none)."""
  params, stats, problems = {}, {}, []
  for layer in LAYERS:
    out_c, in_c = SHAPES[layer]
    keys = {n: f"{layer}.{n}" for n in ("conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var")}
    missing = [k for k in keys.values() if k not in state]
    if missing:
      problems.append("missing " + ", ".join(missing))
      continue
    w = np.asarray(state[keys["conv.weight"]], np.float64)
    if w.shape != (out_c, in_c, 3, 3):
      problems.append(f"{keys['conv.weight']} is {w.shape}, expected {(out_c, in_c, 3, 3)}")
      continue
    gamma = np.asarray(state[keys["bn.weight"]], np.float64)
    mean = np.asarray(state[keys["bn.running_mean"]], np.float64)
    params[layer] = {"kernel": np.transpose(w * gamma[:, None, None, None], (2, 3, 1, 0)).astype(np.float32),
                     "beta": np.asarray(state[keys["bn.bias"]], np.float32)}
    stats[layer] = {"mean": (mean * gamma).astype(np.float32),
                    "var": np.asarray(state[keys["bn.running_var"]], np.float32)}
  if problems:
    raise ValueError(f"{source}: not InceptionV3 weights with torchvision names: " + "; ".join(problems))
  return {"params": params, "batch_stats": stats}


def load_torchvision_block0(path: str | os.PathLike, what: str = "--sifid-weights") -> dict:
  """Block-0 variables from torchvision's ImageNet `inception_v3` `.pth` (read without torch)."""
  from spade_jax.io.torch_files import load_state_dict
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{what} {path}: no such file (SIFID needs torchvision's ImageNet inception_v3 "
                            "weights, inception_v3_google-0cc3c7bd.pth; they cannot be downloaded here)")
  try:
    state = load_state_dict(path)
  except Exception as e:  # noqa: BLE001 - any unreadable file: one line naming it
    raise ValueError(f"{what} {path}: cannot be read as a PyTorch state dict ({e.__class__.__name__})") from None
  return block0_from_state_dict(state, f"{what} {path}")


def load_fid_block0(path=None) -> dict:
  """Block-0 variables of the FID Inception (the labelled variant)."""
  from spade_jax.evaluate.nets.inception import load_fid_inception
  _, v = load_fid_inception(path)
  return {"params": {k: v["params"][k] for k in LAYERS}, "batch_stats": {k: v["batch_stats"][k] for k in LAYERS}}


_apply = jax.jit(lambda v, x: Block0().apply(v, x))


def features(variables: dict, image01: np.ndarray) -> np.ndarray:
  """The (positions, 64) float64 features of one HWC image in [0, 1]."""
  x = np.asarray(image01, np.float32)
  if x.ndim != 3 or x.shape[-1] != 3:
    raise ValueError(f"SIFID: expected an HxWx3 image, got {x.shape}")
  if min(x.shape[:2]) < 7:
    raise ValueError(f"SIFID: the image is {x.shape[0]}x{x.shape[1]}; it needs at least 7x7 pixels")
  f = np.asarray(_apply(variables, jnp.asarray(2 * x[None] - 1)), np.float64)
  return f.reshape(-1, f.shape[-1])


def sifid(variables: dict, real01: np.ndarray, fake01: np.ndarray) -> float:
  """SIFID of one real / fake pair of HWC images in [0, 1]."""
  mu1, s1 = fid_statistics(features(variables, real01))
  mu2, s2 = fid_statistics(features(variables, fake01))
  return frechet_distance(mu1, s1, mu2, s2)


def sifid_many(variables: dict, real01: np.ndarray, fakes01) -> list:
  """SIFID of each fake against one real (SinGAN's setting: one training photo)."""
  return [sifid(variables, real01, f) for f in fakes01]
