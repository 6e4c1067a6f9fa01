"""Training a whole pyramid scale by scale (official `training.train`), resumable.

Scale n starts from scale n-1's trained nets when its width equals the previous one (their BN
statistics included), else from the official init; optimiser state is fresh per scale. Epochs run in
chunks of `epochs_per_call` per dispatch (one `lax.scan`); after every chunk the scale's full state is
written to the work directory, after every scale the pyramid, so a stopped run resumes at the scale and
epoch where it stopped. The draws of epoch e of scale n come from `fold_in(fold_in(seed, n), e)`, so a
resumed run makes the same draws as an uninterrupted one.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.models.singan import pyramid as pyr
from spade_jax.models.singan import store
from spade_jax.models.singan.config import Hyper, Layout
from spade_jax.models.singan.scale import trainer as scale_trainer

PYRAMID_FIELDS = ("min_size", "max_size", "scale_factor", "nfc", "min_nfc", "seed")


def plan_layout(image: np.ndarray, hp: Hyper, min_size: int, max_size: int, scale_factor: float, nfc: int,
                min_nfc: int, what: str = "the photo"):
  """(plan, layout, real, reals) of an NHWC photo."""
  plan = pyr.plan_pyramid(image.shape[1], image.shape[2], min_size, max_size, scale_factor, what=what)
  real, reals = pyr.build_reals(image, plan)
  widths = tuple(pyr.widths(n, nfc, min_nfc) for n in range(plan.stop_scale + 1))
  return plan, Layout(plan.shapes, widths, plan.scale_factor, nc_z=hp.nc_z, num_layer=hp.num_layer), real, reals


def _check_same(meta: dict, fields: dict, hp: Hyper, workdir: str) -> None:
  saved = dict(meta["pyramid_options"])
  diffs = [f"{k} (workdir {saved.get(k)!r}, now {v!r})" for k, v in fields.items() if saved.get(k) != v]
  old = meta["hyper"]
  diffs += [f"{k} (workdir {old.get(k)!r}, now {v!r})" for k, v in store.hyper_to_meta(hp).items()
            if k not in ("niter", "unroll") and old.get(k) != v]
  if diffs:
    raise ValueError(f"--workdir {workdir}: was trained with other options: {', '.join(diffs)}")


def train(image: np.ndarray, workdir: str, hp: Hyper = Hyper(), *, min_size: int = 25, max_size: int = 250,
          scale_factor: float = 0.75, nfc: int = 32, min_nfc: int = 32, seed: int = 0, epochs_per_call: int = 100,
          photo: str = "", log: Callable[[str], None] = print, stop_after: Optional[int] = None) -> store.Pyramid:
  """Trains (or resumes) the pyramid of `image` (NHWC in [-1, 1]) in `workdir`. `stop_after`: stop once
  this many epochs ran in this call (for tests of the resume)."""
  fields = {"min_size": min_size, "max_size": max_size, "scale_factor": scale_factor, "nfc": nfc,
            "min_nfc": min_nfc, "seed": seed}
  plan, layout, real, reals = plan_layout(image, hp, min_size, max_size, scale_factor, nfc, min_nfc,
                                          what=f"photo {photo}" if photo else "the photo")
  os.makedirs(workdir, exist_ok=True)
  if os.path.isfile(os.path.join(workdir, store.META)):
    meta = store.read_meta(workdir)
    _check_same(meta, fields, hp, workdir)
    if store.layout_from_meta(meta) != layout:
      raise ValueError(f"--workdir {workdir}: was trained on another photo ({meta.get('photo')})")
    meta["hyper"]["niter"] = hp.niter
    pyramid = store.load_pyramid(workdir)
    pyramid.reals, pyramid.real1 = [np.asarray(r) for r in reals], np.asarray(real)
  else:
    meta = {"layout": store.layout_to_meta(layout), "hyper": store.hyper_to_meta(hp), "pyramid_options": fields,
            "photo": photo, "scale1": plan.scale1, "num_scales": plan.stop_scale + 1, "timings": {}}
    pyramid = store.Pyramid(layout, [], [], [], [], [np.asarray(r) for r in reals], meta, np.asarray(real))
  store.write_meta(workdir, meta)
  if pyramid.trained == 0:
    store.save_scales(workdir, pyramid)
  root = jax.random.key(seed)
  ran = 0
  for n in range(pyramid.trained, layout.num_scales):
    t = scale_trainer(layout, hp, n)
    key_n = jax.random.fold_in(root, n)
    init = None
    if pyr.continues_from_previous(n, nfc, min_nfc):
      init = (pyramid.Gs[n - 1], pyramid.Ds[n - 1])
    t0 = time.perf_counter()
    carry, ctx = t.setup(jax.random.fold_in(key_n, 0), jnp.asarray(reals[n]), pyramid.Gs, pyramid.Zs,
                         pyramid.amps, init)
    prog = store.load_progress(workdir)
    if prog is not None and prog[0] == n:
      carry = jax.tree.map(jnp.asarray, prog[1])
      log(f"scale {n}: resuming at epoch {int(carry['epoch'])}")
    epoch_keys = jax.random.fold_in(key_n, 1)
    while int(carry["epoch"]) < hp.niter:
      e = int(carry["epoch"])
      k = min(epochs_per_call, hp.niter - e)
      if stop_after is not None:
        if ran >= stop_after:
          return pyramid
        k = min(k, stop_after - ran)
      keys = jax.vmap(lambda i: jax.random.fold_in(epoch_keys, i))(jnp.arange(e, e + k))
      carry, losses = t.run_keys(carry, ctx, keys)
      ran += k
      store.save_progress(workdir, n, carry, {})
      log(f"scale {n}/{layout.num_scales - 1} {tuple(layout.shapes[n])}: epoch {e + k}/{hp.niter} "
          f"errD {float(losses['errD'][-1, -1]):.4f} errG {float(losses['errG'][-1, -1]):.4f} "
          f"rec {float(losses['rec_loss'][-1, -1]):.4f}")
    pyramid.Gs.append(jax.device_get(carry["G"]))
    pyramid.Ds.append(jax.device_get(carry["D"]))
    pyramid.Zs.append(np.asarray(carry["z_opt"]))
    pyramid.amps.append(np.float32(ctx["noise_amp"]))
    meta["timings"][str(n)] = time.perf_counter() - t0
    store.save_scales(workdir, pyramid)
    store.write_meta(workdir, meta)
    store.clear_progress(workdir)
  return pyramid
