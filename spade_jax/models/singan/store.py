"""A trained (or partly trained) pyramid in a work directory.

  `singan.json`  the layout (sizes, widths, adjusted scale factor), the training options, the photo,
                 the number of finished scales;
  `scales.npz`   per finished scale n: `G/<n>/<official state_dict name>` (OIHW, as `netG.pth`),
                 `D/<n>/...`, `Z/<n>` (padded reconstruction noise, NHWC), `amp/<n>`; `real/<n>` for
                 every scale of the pyramid, `real1` (the photo at the training size);
  `progress.npz` the scale in training: its full state (nets, Adam moments, epoch, z_opt) and setup.
Files are written to a temporary name and renamed, so a killed run leaves the previous version.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

import flax
import jax
import numpy as np

from spade_jax.models.singan import official
from spade_jax.models.singan.config import Hyper, Layout
from spade_jax.models.singan.networks import Critic, Generator

META = "singan.json"
SCALES = "scales.npz"
PROGRESS = "progress.npz"


def _atomic_savez(path: str, arrays: dict) -> None:
  tmp = path + ".tmp.npz"
  np.savez(tmp, **arrays)
  os.replace(tmp, path)


def write_meta(workdir: str, meta: dict) -> None:
  tmp = os.path.join(workdir, META + ".tmp")
  with open(tmp, "w") as f:
    json.dump(meta, f, indent=1, sort_keys=True)
  os.replace(tmp, os.path.join(workdir, META))


def read_meta(workdir: str) -> dict:
  path = os.path.join(workdir, META)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--workdir {workdir}: no trained SinGAN pyramid there ({META} is missing)")
  with open(path) as f:
    return json.load(f)


def layout_from_meta(meta: dict) -> Layout:
  l = meta["layout"]
  return Layout(tuple(map(tuple, l["shapes"])), tuple(map(tuple, l["widths"])), l["scale_factor"],
                nc_z=l["nc_z"], num_layer=l["num_layer"])


def layout_to_meta(layout: Layout) -> dict:
  return {"shapes": [list(s) for s in layout.shapes], "widths": [list(w) for w in layout.widths],
          "scale_factor": layout.scale_factor, "nc_z": layout.nc_z, "num_layer": layout.num_layer}


def hyper_from_meta(meta: dict) -> Hyper:
  return Hyper(**meta["hyper"])


def hyper_to_meta(hp: Hyper) -> dict:
  return dataclasses.asdict(hp)


class Pyramid:
  """The finished scales of a work directory: `Gs`, `Zs`, `amps`, `reals` (NHWC) and the layout."""

  def __init__(self, layout: Layout, Gs, Ds, Zs, amps, reals, meta: Optional[dict] = None, real1=None):
    self.layout, self.Gs, self.Ds, self.Zs, self.amps, self.reals = layout, Gs, Ds, Zs, amps, reals
    self.meta = meta or {}
    self.real1 = real1  # the photo resized by scale1 (what the manipulations blend with)

  @property
  def trained(self) -> int:
    return len(self.Gs)

  def nets(self, n: int):
    nfc, min_nfc = self.layout.widths[n]
    return Generator(nfc, min_nfc, num_layer=self.layout.num_layer), Critic(nfc, min_nfc, num_layer=self.layout.num_layer)

  def require_complete(self, workdir: str) -> None:
    if self.trained < self.layout.num_scales:
      raise ValueError(f"--workdir {workdir}: only {self.trained} of {self.layout.num_scales} scales are trained; "
                       "finish the training first (run the same training command again to resume)")


def save_scales(workdir: str, pyr: Pyramid) -> None:
  arrays = {}
  for n in range(pyr.trained):
    g, d = pyr.nets(n)
    for tag, net, v in (("G", g, pyr.Gs[n]), ("D", d, pyr.Ds[n])):
      for k, a in official.variables_to_state_dict(jax.device_get(v), net).items():
        arrays[f"{tag}/{n}/{k}"] = a
    arrays[f"Z/{n}"] = np.asarray(pyr.Zs[n])
    arrays[f"amp/{n}"] = np.asarray(pyr.amps[n], np.float32)
  for n, r in enumerate(pyr.reals):
    arrays[f"real/{n}"] = np.asarray(r)
  if pyr.real1 is not None:
    arrays["real1"] = np.asarray(pyr.real1)
  _atomic_savez(os.path.join(workdir, SCALES), arrays)


def load_pyramid(workdir: str) -> Pyramid:
  meta = read_meta(workdir)
  layout = layout_from_meta(meta)
  path = os.path.join(workdir, SCALES)
  Gs, Ds, Zs, amps, reals, real1 = [], [], [], [], [], None
  if os.path.isfile(path):
    with np.load(path) as z:
      files = set(z.files)
      n = 0
      while f"Z/{n}" in files:
        nfc, min_nfc = layout.widths[n]
        for tag, net, out in (("G", Generator(nfc, min_nfc, num_layer=layout.num_layer), Gs),
                              ("D", Critic(nfc, min_nfc, num_layer=layout.num_layer), Ds)):
          p = f"{tag}/{n}/"
          sd = {k[len(p):]: z[k] for k in files if k.startswith(p)}
          out.append(jax.tree.map(np.asarray, official.state_dict_to_variables(sd, net, what=f"{path} {tag}/{n}")))
        Zs.append(z[f"Z/{n}"])
        amps.append(np.float32(z[f"amp/{n}"]))
        n += 1
      k = 0
      while f"real/{k}" in files:
        reals.append(z[f"real/{k}"])
        k += 1
      real1 = z["real1"] if "real1" in files else None
  return Pyramid(layout, Gs, Ds, Zs, amps, reals, meta, real1)


def save_progress(workdir: str, n: int, carry: dict, ctx_scalars: dict) -> None:
  flat = flax.traverse_util.flatten_dict(jax.device_get(carry), sep="/")
  arrays = {f"carry/{k}": np.asarray(v) for k, v in flat.items()}
  arrays.update({f"ctx/{k}": np.asarray(v) for k, v in ctx_scalars.items()})
  arrays["scale"] = np.asarray(n)
  _atomic_savez(os.path.join(workdir, PROGRESS), arrays)


def load_progress(workdir: str):
  """(scale, carry, ctx arrays) of the scale in training, or None."""
  path = os.path.join(workdir, PROGRESS)
  if not os.path.isfile(path):
    return None
  with np.load(path) as z:
    carry = flax.traverse_util.unflatten_dict({tuple(k[len("carry/"):].split("/")): z[k]
                                               for k in z.files if k.startswith("carry/")})
    ctx = {k[len("ctx/"):]: z[k] for k in z.files if k.startswith("ctx/")}
    return int(z["scale"]), carry, ctx


def clear_progress(workdir: str) -> None:
  path = os.path.join(workdir, PROGRESS)
  if os.path.exists(path):
    os.remove(path)
