"""pix2pixHD (NVIDIA/pix2pixHD) as a model family: `Pix2PixHDModel`'s networks, the official iteration,
coarse-to-fine training, and the inputs users give (label map, instance map, and for feature models a
photo to encode or a feature map, e.g. built from the per-class cluster centres of `features.py`).

Coarse-to-fine (`netG = "local"`, `train.global_steps > 0`): `staged_train` first trains the global
generator alone (`global_stage()`: netG=global, ngf·2^L, images 1/2^L of the size, `train.global_num_D`
scales) in `<workdir>/global/`, then the full model in `<workdir>` itself, starting from the global stage's
global part, encoder and discriminators (each discriminator goes to the scale that sees the same
resolution: global-stage scale i → scale i + L, as the official `--load_pretrain` does by name). So
`eval.py --workdir <workdir>` finds the final model's checkpoints where every family has them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from spade_jax import models
from spade_jax.gan import ema as ema_lib
from spade_jax.gan import state as gan_state
from spade_jax.gan import vgg as vgg_lib
from spade_jax.models.base import Input
from spade_jax.models.label_map import LabelMapFamily
from spade_jax.models.pix2pixhd import step as step_lib
from spade_jax.models.pix2pixhd.model import Pix2PixHDModel, n_local_enhancers, uses_features
from spade_jax.nn.precision import compute_dtype


def _flat(tree) -> dict:
  return traverse_util.flatten_dict(tree) if tree else {}


@models.register("pix2pixhd")
@dataclasses.dataclass(frozen=True, eq=False)
class Pix2PixHDFamily(LabelMapFamily):
  """See the module docstring; the interface is `spade_jax.models.base.Family`.

  `pretrained`: host variables (`{net: {"params": ..., "batch_stats": ...}}`, any subset of the leaves)
  that replace the fresh initialisation in `init_state` (the global stage's result)."""

  pretrained: Optional[dict] = None

  state_fields = ("model.", "data.label_nc", "data.no_instance", "data.crop_size", "data.aspect_ratio")

  def __post_init__(self):
    d = self.config.data
    if d.get("contain_dontcare_label", False):
      raise ValueError("data.contain_dontcare_label=True: pix2pixHD has no don't-care channel (label ids must "
                       "be 0..label_nc-1); set it to False")
    model = Pix2PixHDModel(self.config, self.axis_name)
    h, w = model.image_hw
    k = model.size_multiple
    if h % k or w % k:
      raise ValueError(f"data.crop_size {w} / aspect_ratio {d.aspect_ratio} give {h}x{w} images; pix2pixHD needs "
                       f"sides divisible by 2^(n_downsample_global + n_local_enhancers) = {k}")
    object.__setattr__(self, "model", model)

  # ----- config -----
  @classmethod
  def state_signature(cls, config) -> dict:
    sig = super().state_signature(config)
    t = config.to_dict()["train"] if hasattr(config, "to_dict") else dict(config["train"])
    sig["train.ema_decay > 0"] = float(t.get("ema_decay", 0) or 0) > 0
    return sig

  # ----- stages -----
  @property
  def n_local(self) -> int:
    return n_local_enhancers(self.config)

  @property
  def staged(self) -> bool:
    return self.n_local > 0 and int(self.config.train.get("global_steps", 0) or 0) > 0

  def global_stage(self) -> "Pix2PixHDFamily":
    """The family of the coarse stage: the global generator alone at 1/2^L of the resolution."""
    if not self.staged:
      raise ValueError("global_stage(): this model has no coarse stage (netG='local' with train.global_steps > 0)")
    L = self.n_local
    c = self.config.copy_and_resolve_references()
    m, d, t = c.model, c.data, c.train
    m.ngf = int(m.ngf) * 2 ** L
    m.netG = "global"
    m.num_D = int(t.get("global_num_D", 0) or 0) or max(int(m.num_D) - L, 1)
    d.crop_size = int(d.crop_size) // 2 ** L
    d.load_size = int(d.load_size) // 2 ** L
    c.total_steps = int(t.global_steps)
    t.niter_decay_steps = int(t.get("global_decay_steps", 0) or 0)
    t.niter_fix_global = 0
    t.global_steps = 0
    return Pix2PixHDFamily(c, self.axis_name)

  def first_stage(self) -> "Pix2PixHDFamily":
    return self.global_stage() if self.staged else self

  def from_global_stage(self, variables: dict) -> "Pix2PixHDFamily":
    """This family starting from the global stage's variables (host arrays)."""
    L = self.n_local
    out = {}
    g = variables["G"]
    out["G"] = {"params": {"global": {k: v for k, v in g["params"]["global"].items() if k != "conv_out"}},
                "batch_stats": {"global": {k: v for k, v in g.get("batch_stats", {}).get("global", {}).items()
                                           if k != "conv_out"}}}
    if "E" in variables and uses_features(self.config):
      out["E"] = variables["E"]
    dvars = variables["D"]
    out["D"] = {col: {f"discriminator_{int(name.split('_')[1]) + L}": sub for name, sub in dvars.get(col, {}).items()
                      if int(name.split("_")[1]) + L < int(self.config.model.num_D)}
                for col in ("params", "batch_stats")}
    return dataclasses.replace(self, pretrained=jax.tree.map(np.asarray, out))

  @property
  def staged_train(self):
    return self._train_stages if (self.staged and self.pretrained is None) else None

  def _train_stages(self, workdir: str, run):
    first = self.global_stage()
    result = run(first.config, os.path.join(workdir, "global"), family=first)
    if result.interrupted:
      return result
    variables = jax.device_get(result.driver.to_host(result.state)).variables
    final = self.from_global_stage(variables)
    return run(final.config, workdir, family=final)

  # ----- training -----
  def init_state(self, rng):
    variables, state_rng = gan_state.init_with_fast_prng(self.model.init, rng)
    if self.pretrained is not None:
      variables = self._merge_pretrained(variables)
    return step_lib.new_state(self.config, variables, state_rng)

  def _merge_pretrained(self, variables: dict) -> dict:
    host = {n: {c: _flat(v.get(c, {})) for c in ("params", "batch_stats")} for n, v in self.pretrained.items()}
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, jnp.float32), host)
    loaded = jax.pure_callback(lambda: jax.tree.map(lambda a: np.asarray(a, np.float32), host), shapes)
    out = {}
    for net, v in variables.items():
      out[net] = dict(v)
      for col in ("params", "batch_stats"):
        flat = _flat(v.get(col, {}))
        for path, leaf in loaded.get(net, {}).get(col, {}).items():
          if path not in flat or flat[path].shape != leaf.shape:
            raise ValueError(f"pretrained {net}/{col}/{'/'.join(path)} {leaf.shape} does not fit the model "
                             f"({flat[path].shape if path in flat else 'no such variable'})")
          flat[path] = leaf
        out[net][col] = traverse_util.unflatten_dict(flat) if flat else {}
    return out

  def train_step(self, state, batch, resources=None):
    vgg_fn = vgg_lib.features_fn(resources, compute_dtype(self.config))
    state, metrics, _ = step_lib.train_step(self.model, state, batch, vgg_fn=vgg_fn, axis_name=self.axis_name)
    return state, metrics

  def load_resources(self):
    """The VGG19 weights of the perceptual loss (`train.vgg_weights`), or None with `train.no_vgg_loss`."""
    return vgg_lib.perceptual_resources(self.config.train, self.image_hw)

  def learning_rates(self, step: int) -> dict:
    lr = float(step_lib.schedule(self.config)(step))
    return {"lr_G": lr, "lr_D": lr}

  # ----- sampling -----
  def sampling_variables(self, state) -> dict:
    return ema_lib.ema_variables(state.variables, state.ema, step_lib.SAMPLING_NETS)

  def needs_refinement(self, state) -> bool:
    return state.ema is not None and self.config.model.norm == "batch"

  @property
  def refinement_batches(self) -> int:
    return 4 if (step_lib.ema_decay(self.config) > 0 and self.config.model.norm == "batch") else 0

  def refine_sampling_variables(self, variables, batches, rng):
    model = self.model

    def fwd(v, batch, key):
      _, stats, _ = step_lib.forward(model, v, batch, train=True, with_d=False)
      return stats

    return ema_lib.reestimate(fwd, variables, batches, rng)

  def sample(self, variables, batch, rng):
    return self.generate(variables, self.eval_inputs(batch), rng)

  # ----- inference -----
  def input_spec(self) -> tuple[Input, ...]:
    spec = [Input("label", "label", True, "class ids [B, H, W] in 0..label_nc-1")]
    if not self.config.data.no_instance:
      spec.append(Input("instance", "instance", True,
                        "this model uses instance edges (no_instance=False): pass instance ids [B, H, W] "
                        "(or the label map itself to use class boundaries as instance edges)"))
    if uses_features(self.config):
      n = int(self.config.model.feat_num)
      spec.append(Input("style_image", "image", False,
                        "photo [B, H, W, 3] in [-1, 1] whose encoder features (averaged per instance) are used "
                        "(official --use_encoded_image)"))
      spec.append(Input("features", "map", False,
                        f"feature map [B, H, W, {n}] (e.g. per-instance cluster centres: "
                        "python -m spade_jax.models.pix2pixhd.features); without it or style_image: zeros"))
    return tuple(spec)

  def check_inputs(self, inputs: dict, where=None) -> dict:
    out = super().check_inputs(inputs, where)
    feats = out.get("features")
    if feats is not None:
      want = tuple(out["label"].shape) + (int(self.config.model.feat_num),)
      if feats.shape != want:
        raise ValueError(f"{where or 'features'}: feature map of shape {tuple(feats.shape)}, the model needs "
                         f"{want} (label map size, model.feat_num channels)")
      out["features"] = feats.astype(np.float32)
    return out

  def generate(self, variables, inputs, rng=None):
    model = self.model
    batch = {"label": inputs["label"], "instance": inputs.get("instance")}
    feats = None
    if uses_features(self.config):
      feats = inputs.get("features")
      if feats is None and inputs.get("style_image") is not None:
        feats, _, _ = model.encode(variables["E"], inputs["style_image"], model.pooling_ids(batch), train=False)
      if feats is None:
        h, w = inputs["label"].shape[1:3]
        feats = jnp.zeros((inputs["label"].shape[0], h, w, int(self.config.model.feat_num)), jnp.float32)
    g_in = model.generator_input(model.input_label(batch), feats)
    fake, _, _ = model.generate(variables["G"], g_in, train=False)
    return fake

  def eval_inputs(self, batch: dict) -> dict:
    out = self.labels_and_instances(batch)
    if uses_features(self.config):
      out["style_image"] = batch["image"]
    return out

  def example_inputs(self, batch: dict) -> dict:
    out = self.eval_inputs(batch)
    if uses_features(self.config):
      lab = np.asarray(batch["label"])
      out["features"] = np.zeros(lab.shape + (int(self.config.model.feat_num),), np.float32)
    return out

  def eval_protocol(self) -> dict:
    if uses_features(self.config):
      return {"generation": "instance features encoded from the paired real image (official --use_encoded_image)"}
    return {"generation": "label map (+ instance edges) only"}

  # ----- official checkpoints -----
  @classmethod
  def load_official(cls, checkpoint: str, options, **kwargs) -> tuple["Pix2PixHDFamily", dict]:
    """The released `<which>_net_G.pth` (+ `_net_E.pth` for feature models) and its `opt.txt`, read without
    torch (`spade_jax.models.pix2pixhd.official`)."""
    from spade_jax.models.pix2pixhd.official import load_official
    config, variables = load_official(checkpoint, options, **kwargs)
    return cls(config), variables
