"""SinGAN (tamarott/SinGAN) as a model family: a pyramid of per-scale GANs of one photo, trained
coarse to fine, each scale one stage of the training engine.

The top-level family (`models.build(config)`) has `staged_train`: for every scale it builds that
scale's stage family and runs the engine on it (`DIR/scale_<n>/`: checkpoints, resume, progress), then
adds the trained scale to the pyramid in `DIR` (`scales.npz`, `singan.json`, read by the commands of
`spade_jax.models.singan.cli`). A stage family's state is the scale's nets, Adam moments, epoch counter
and reconstruction noise; one engine step runs `train.epochs_per_step` official epochs in one
`lax.scan`; the frozen coarser scales, the scale's real image and its reconstruction input are
constants of the step. The step ignores the batch (SinGAN has one photo): rows of the batch are
replicated copies, so the step runs the same on every device.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from spade_jax import models
from spade_jax.models.base import Family, Input
from spade_jax.models.singan import coarse as C
from spade_jax.models.singan import pyramid as pyr_lib
from spade_jax.models.singan import store
from spade_jax.models.singan.config import Hyper
from spade_jax.models.singan.init import official_init
from spade_jax.models.singan.networks import Generator, pad
from spade_jax.models.singan.scale import trainer as scale_trainer


@dataclasses.dataclass(frozen=True, eq=False)
class Stage:
  """One scale: its index, the pyramid layout, the options, the nets it continues from (host
  variables or None) and its resources (host arrays)."""
  n: int
  layout: Any
  hp: Hyper
  init: Optional[tuple]
  resources: dict


class PhotoIterator:
  """The engine's data for a scale: `batch_size` copies of the scale's real image, forever."""

  def __init__(self, real: np.ndarray, batch_size: int):
    self.batch = {"image": np.repeat(np.asarray(real, np.float32), batch_size, axis=0)}
    self.step = 0

  def __iter__(self):
    return self

  def __next__(self):
    self.step += 1
    return self.batch

  def get_state(self):
    return {"step": self.step}

  def set_state(self, state):
    self.step = int(state["step"])


def hyper(config) -> Hyper:
  t, m = config.train, config.model
  return Hyper(niter=int(t.niter), Dsteps=int(t.Dsteps), Gsteps=int(t.Gsteps), lambda_grad=float(t.lambda_grad),
               alpha=float(t.alpha), lr_g=float(t.lr_g), lr_d=float(t.lr_d), beta1=float(t.beta1),
               gamma=float(t.gamma), milestone=int(t.milestone), noise_amp_init=float(t.noise_amp),
               nc_z=int(m.nc_z), num_layer=int(m.num_layer), official_grad=bool(t.official_grad),
               unroll=bool(t.get("unroll", True)))


@models.register("singan")
@dataclasses.dataclass(frozen=True, eq=False)
class SinGANFamily(Family):
  """See the module docstring; the interface is `spade_jax.models.base.Family`."""

  stage: Optional[Stage] = None

  state_fields = ("model.", "data.", "seed")
  step_fields = ("train.", "batch_size")
  batch_keys = ("image",)
  multimodal = True

  @classmethod
  def check_config(cls, config, training: bool = True) -> list[str]:
    d, m, t = config.data, config.model, config.train
    out = []
    if training and not str(d.image):
      out.append("data.image is empty: give the training photo (--config.data.image=PHOTO or synthetic:HxW)")
    if not 0 < float(d.scale_factor) < 1:
      out.append(f"data.scale_factor={d.scale_factor} must lie in (0, 1)")
    if int(d.min_size) < 11:
      out.append(f"data.min_size={d.min_size} is below the generators' 11-pixel receptive field")
    if int(d.max_size) <= int(d.min_size):
      out.append(f"data.max_size={d.max_size} must exceed data.min_size={d.min_size}")
    for name in ("nfc", "min_nfc", "num_layer", "nc_z"):
      if int(m[name]) < 1:
        out.append(f"model.{name}={m[name]} must be >= 1")
    if int(m.num_layer) != 5:
      out.append(f"model.num_layer={m.num_layer}: only 5 (the official padding of 5 assumes it)")
    for name in ("niter", "Dsteps", "Gsteps", "epochs_per_step"):
      if int(t[name]) < 1:
        out.append(f"train.{name}={t[name]} must be >= 1")
    if int(t.epochs_per_step) >= 1 and int(t.niter) % int(t.epochs_per_step):
      out.append(f"train.epochs_per_step={t.epochs_per_step} must divide train.niter={t.niter}")
    for name in ("lambda_grad", "alpha", "lr_g", "lr_d", "noise_amp"):
      if float(t[name]) < 0:
        out.append(f"train.{name}={t[name]} must be >= 0")
    return out

  # ----- the pyramid -----
  def _epochs_per_step(self) -> int:
    k = int(self.config.train.epochs_per_step)
    if k < 1 or int(self.config.train.niter) % k:
      raise ValueError(f"train.epochs_per_step={k} must be >= 1 and divide train.niter={self.config.train.niter}")
    return k

  def plan(self):
    """(plan, layout, real, reals) of the configured photo (cached)."""
    cached = self.__dict__.get("_plan")
    if cached is None:
      from spade_jax.models.singan.image import read_photo_spec
      from spade_jax.models.singan.trainer import plan_layout
      d, m = self.config.data, self.config.model
      photo = read_photo_spec(str(d.image))
      cached = plan_layout(photo, hyper(self.config), int(d.min_size), int(d.max_size), float(d.scale_factor),
                           int(m.nfc), int(m.min_nfc), what=f"data.image {d.image}")
      object.__setattr__(self, "_plan", cached)
    return cached

  def stage_family(self, n: int, pyramid: store.Pyramid) -> "SinGANFamily":
    """The family of scale n, on top of the trained scales 0..n-1 of `pyramid`."""
    _, layout, _, reals = self.plan()
    hp = hyper(self.config)
    m = self.config.model
    init = None
    if pyr_lib.continues_from_previous(n, int(m.nfc), int(m.min_nfc)):
      init = (pyramid.Gs[n - 1], pyramid.Ds[n - 1])
    t = scale_trainer(layout, hp, n)
    dummy = (official_init(jax.random.key(0), t.netG), official_init(jax.random.key(0), t.netD))
    _, ctx = t.setup(jax.random.key(0), reals[n], pyramid.Gs[:n], pyramid.Zs[:n], pyramid.amps[:n], dummy)
    resources = jax.tree.map(np.asarray, jax.device_get(ctx))
    stage_config = self.config.copy_and_resolve_references()
    stage_config.total_steps = int(self.config.train.niter) // self._epochs_per_step()
    return dataclasses.replace(self, config=stage_config, stage=Stage(n, layout, hp, init, resources))

  def first_stage(self) -> "SinGANFamily":
    _, layout, _, reals = self.plan()
    return self.stage_family(0, store.Pyramid(layout, [], [], [], [], reals))

  def compile_key(self) -> str:
    key = super().compile_key()
    if self.stage is None:
      return key
    return json.dumps({"base": key, "scale": self.stage.n, "layout": repr(self.stage.layout),
                       "continues": self.stage.init is not None})

  @property
  def staged_train(self):
    return None if self.stage is not None else self._train_pyramid

  def _train_pyramid(self, workdir: str, run):
    """Trains (or resumes) every scale with the engine `run`; returns the last stage's result."""
    plan, layout, real, reals = self.plan()
    os.makedirs(workdir, exist_ok=True)
    hp = hyper(self.config)
    meta_path = os.path.join(workdir, store.META)
    if os.path.isfile(meta_path):
      meta = store.read_meta(workdir)
      if store.layout_from_meta(meta) != layout:
        raise ValueError(f"--workdir {workdir}: holds the pyramid of another photo or other sizes "
                         f"({meta.get('photo')})")
      pyramid = store.load_pyramid(workdir)
    else:
      d, m = self.config.data, self.config.model
      meta = {"layout": store.layout_to_meta(layout), "hyper": store.hyper_to_meta(hp), "photo": str(d.image),
              "pyramid_options": {"min_size": int(d.min_size), "max_size": int(d.max_size),
                                  "scale_factor": float(d.scale_factor), "nfc": int(m.nfc),
                                  "min_nfc": int(m.min_nfc), "seed": int(self.config.seed)},
              "scale1": plan.scale1, "num_scales": layout.num_scales, "timings": {}}
      pyramid = store.Pyramid(layout, [], [], [], [], [np.asarray(r) for r in reals], meta, np.asarray(real))
      store.write_meta(workdir, meta)
    pyramid.reals, pyramid.real1 = [np.asarray(r) for r in reals], np.asarray(real)
    result = None
    for n in range(pyramid.trained, layout.num_scales):
      fam = self.stage_family(n, pyramid)
      it = PhotoIterator(reals[n], int(fam.config.batch_size))
      result = run(fam.config, os.path.join(workdir, f"scale_{n}"), family=fam, data_iterator=it)
      if result.interrupted:
        return result
      state = jax.device_get(result.driver.to_host(result.state))
      pyramid.Gs.append(jax.tree.map(np.asarray, state["G"]))
      pyramid.Ds.append(jax.tree.map(np.asarray, state["D"]))
      pyramid.Zs.append(np.asarray(state["z_opt"]))
      pyramid.amps.append(np.float32(fam.stage.resources["noise_amp"]))
      store.save_scales(workdir, pyramid)
      store.write_meta(workdir, meta)
    return result

  # ----- training (a stage) -----
  def _stage(self) -> Stage:
    if self.stage is None:
      raise ValueError("this SinGAN family is the whole pyramid: train it with staged_train, or take "
                       "first_stage() / stage_family(n, pyramid) for one scale")
    return self.stage

  def init_state(self, rng):
    st = self._stage()
    t = scale_trainer(st.layout, st.hp, st.n)
    if st.init is not None:
      G, D = jax.tree.map(jnp.asarray, st.init)
    else:
      kg, kd = jax.random.split(jax.random.fold_in(rng, 0))
      G, D = official_init(kg, t.netG, st.hp.nc_im), official_init(kd, t.netD, st.hp.nc_im)
    from spade_jax.models.singan import adam
    h, w = st.layout.shapes[st.n]
    return {"G": G, "D": D, "opt_G": adam.init(G["params"]), "opt_D": adam.init(D["params"]),
            "epoch": jnp.zeros((), jnp.int32), "z_opt": jnp.zeros((1, h + 10, w + 10, 3), jnp.float32),
            "rng": jnp.asarray(rng)}

  def train_step(self, state, batch, resources=None):
    st = self._stage()
    t = scale_trainer(st.layout, st.hp, st.n)
    k = self._epochs_per_step()
    rng = state["rng"]
    # The stage's resources are constants of the step (see `load_resources`).
    resources = jax.tree.map(jnp.asarray, st.resources)
    carry = {key: v for key, v in state.items() if key != "rng"}
    keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(carry["epoch"] + jnp.arange(k))
    if k == 1:  # no while loop (XLA:CPU runs an epoch ~4x slower inside one)
      carry, losses = t.epoch(carry, resources, t.sample_draws(keys[0]))
    else:
      carry, losses = t._run_keys(carry, resources, keys)
      losses = jax.tree.map(lambda v: v[-1], losses)
    metrics = {name: v.mean() for name, v in losses.items()}
    return dict(carry, rng=rng), metrics

  def load_resources(self):
    """None: the stage's frozen arrays (coarser scales, real, reconstruction input) are constants of
    the compiled step instead (the pmap driver cannot pass replicated resources yet, see
    .coord/REQUESTS.md)."""
    self._stage()
    return None

  def learning_rates(self, step: int) -> dict:
    hp = hyper(self.config)
    decay = hp.gamma if step * self._epochs_per_step() >= hp.milestone else 1.0
    return {"lr_G": hp.lr_g * decay, "lr_D": hp.lr_d * decay}

  # ----- sampling (a stage) -----
  @property
  def image_hw(self) -> tuple[int, int]:
    layout = self.stage.layout if self.stage is not None else self.plan()[1]
    n = self.stage.n if self.stage is not None else layout.num_scales - 1
    return tuple(layout.shapes[n])

  def sampling_variables(self, state) -> dict:
    return {"G": state["G"]}

  def _net(self) -> Generator:
    st = self._stage()
    return Generator(*st.layout.widths[st.n], nc_im=st.hp.nc_im, num_layer=st.layout.num_layer)

  def sample(self, variables, batch, rng):
    """Random samples of the pyramid up to this scale: fresh noise at every scale, eval mode."""
    st = self._stage()
    r = st.resources
    b = batch["image"].shape[0]
    keys = jax.random.split(jnp.asarray(rng), st.n + 1)
    noises = [jax.random.normal(keys[i], (b,) + C.noise_shape(st.layout, i, i == 0)[1:]) for i in range(st.n)]
    if st.n:
      prev = C.draw_concat(st.layout, r["Gs"], r["Zs"], r["amps"], noises)
    else:
      prev = jnp.zeros((b,) + tuple(st.layout.shapes[0]) + (3,), jnp.float32)
    z = jax.random.normal(keys[-1], (b,) + C.noise_shape(st.layout, st.n, st.n == 0)[1:])
    return self._refine(variables, prev, C.expand(z))

  def _refine(self, variables, prev, z):
    amp = self._stage().resources["noise_amp"]
    p = pad(prev)
    return self._net().apply(variables["G"], amp * pad(z) + p, p, train=False)

  # ----- inference (a stage) -----
  def input_spec(self) -> tuple[Input, ...]:
    h, w = self.image_hw
    return (Input("image", "image", True, f"the coarser scales' upsampled output at this scale, [B, {h}, {w}, 3] "
                  "in [-1, 1]: the generator adds detail to it (an injected paint / reference works too)"),
            Input("z", "map", False, f"the noise [B, {h}, {w}, 3] (default: drawn from rng)"))

  def check_inputs(self, inputs: dict, where=None) -> dict:
    out = super().check_inputs(inputs, where)
    h, w = self.image_hw
    for k, v in out.items():
      if v.ndim != 4 or tuple(v.shape[1:]) != (h, w, 3):
        raise ValueError(f"input {k!r}{f' ({where})' if where else ''} is {tuple(v.shape)}: expected [B, {h}, {w}, 3]")
    return out

  def generate(self, variables, inputs, rng=None):
    prev = inputs["image"]
    z = inputs.get("z")
    if z is None:
      if rng is None:
        raise ValueError("SinGAN generation needs `z` or `rng` (its noise)")
      z = jax.random.normal(jnp.asarray(rng) if not isinstance(rng, jax.Array) else rng, prev.shape)
    return self._refine(variables, prev, z)

  def eval_inputs(self, batch: dict) -> dict:
    return {"image": batch["image"]}

  def example_inputs(self, batch: dict) -> dict:
    return {"image": batch["image"], "z": np.zeros_like(np.asarray(batch["image"]))}

  def example_batches(self, n: int) -> list[dict]:
    h, w = self.image_hw
    b = int(self.config.batch_size)
    real = np.asarray(self._stage().resources["real"]) if self.stage is not None else np.zeros((1, h, w, 3))
    batch = {"image": np.repeat(real.astype(np.float32), b, axis=0), "label": np.zeros((b, h, w), np.int32)}
    return [batch for _ in range(n)]

  def eval_protocol(self) -> dict:
    return {"generation": "random samples of one photo's pyramid"}
