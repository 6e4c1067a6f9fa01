"""Official SinGAN state_dicts (`netG.pth` / `netD.pth` of a `TrainedModels/<name>/.../<n>/` folder) <->
our variables.

Official names: `head.conv.{weight,bias}`, `head.norm.{weight,bias,running_mean,running_var,
num_batches_tracked}`, `body.block<i>.conv/.norm...`, the generator's `tail.0.{weight,bias}` (the conv
before Tanh) and the critic's `tail.{weight,bias}`. Conv weights are OIHW there, HWIO here.
Conversion is strict: one ValueError lists every missing, unexpected and mis-shaped entry.
"""

from __future__ import annotations

import os
from typing import Mapping

import flax
import numpy as np

from spade_jax.models.singan.init import template
from spade_jax.models.singan.networks import Generator

_BN = {"weight": ("params", "scale"), "bias": ("params", "bias"),
       "running_mean": ("batch_stats", "norm", "mean"), "running_var": ("batch_stats", "norm", "var"),
       "num_batches_tracked": ("batch_stats", "num_batches_tracked")}


def _torch_key(path: tuple, is_generator: bool) -> str:
  """Official name of one of our variables (collection, module..., leaf)."""
  col, *mods = path
  if mods[0] == "tail":
    return ("tail.0." if is_generator else "tail.") + ("weight" if mods[-1] == "kernel" else "bias")
  block = mods[1]
  prefix = "head" if block == "head" else f"body.{block}"
  rest = tuple(mods[2:])
  if rest[0] == "conv":
    return f"{prefix}.conv." + ("weight" if rest[-1] == "kernel" else "bias")
  for name, (c, *sub) in _BN.items():
    if c == col and tuple(sub) == rest:
      return f"{prefix}.norm.{name}"
  raise KeyError(path)


def _mapping(net) -> dict:
  """{official name: (our flat path, our shape)} for `net`."""
  shapes = flax.core.unfreeze(template(net))
  flat = flax.traverse_util.flatten_dict(shapes)
  is_g = isinstance(net, Generator)
  return {_torch_key(p, is_g): (p, tuple(s.shape)) for p, s in flat.items()}


def _to_ours(name: str, value: np.ndarray) -> np.ndarray:
  value = np.asarray(value)
  if value.ndim == 4:
    return np.transpose(value, (2, 3, 1, 0)).astype(np.float32)
  if name.endswith("num_batches_tracked"):
    return value.astype(np.int32)
  return value.astype(np.float32)


def state_dict_to_variables(state: Mapping[str, np.ndarray], net, what: str = "state_dict") -> dict:
  """Our variables of `net` from an official state_dict (strict)."""
  mapping = _mapping(net)
  missing = sorted(set(mapping) - set(state))
  unexpected = sorted(set(state) - set(mapping))
  flat, misshaped = {}, []
  for name, (path, shape) in mapping.items():
    if name not in state:
      continue
    v = _to_ours(name, state[name])
    if tuple(v.shape) != shape:
      misshaped.append(f"{name} {tuple(np.shape(state[name]))} (expected "
                       f"{tuple(np.transpose(np.zeros(shape), (3, 2, 0, 1)).shape) if len(shape) == 4 else shape})")
    flat[path] = v
  if missing or unexpected or misshaped:
    parts = []
    if missing:
      parts.append("missing " + ", ".join(missing))
    if unexpected:
      parts.append("unexpected " + ", ".join(unexpected))
    if misshaped:
      parts.append("mis-shaped " + ", ".join(misshaped))
    raise ValueError(f"{what}: does not match the {type(net).__name__}(nfc={net.nfc}, "
                     f"min_nfc={net.min_nfc}): " + "; ".join(parts))
  return flax.traverse_util.unflatten_dict(flat)


def variables_to_state_dict(variables, net) -> dict:
  """The official state_dict (numpy, OIHW, int64 counters) of our variables."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables))
  out = {}
  for name, (path, _) in _mapping(net).items():
    v = np.asarray(flat[path])
    if v.ndim == 4:
      v = np.transpose(v, (3, 2, 0, 1))
    out[name] = v.astype(np.int64) if name.endswith("num_batches_tracked") else v.astype(np.float32)
  return out


def load_state_dict_file(path: str | os.PathLike, net) -> dict:
  """Our variables of `net` from an official `netG.pth` / `netD.pth` (read without torch)."""
  try:
    from spade_jax.io.torch_files import load_state_dict
  except ImportError:  # before the move of the reader
    from spade_jax.official.torch_files import load_state_dict
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such file")
  return state_dict_to_variables(load_state_dict(path), net, what=path)
