"""SPADE / GauGAN (NVlabs/SPADE) as a model family: `SPADEModel`'s networks, the official step, the EMA
generator with BN re-estimation, and the inputs users give (label map, instance map, VAE style photo or
z; a style photo for the SEAN-style modulation variant)."""

from __future__ import annotations

import re

import numpy as np

from spade_jax import models
from spade_jax.gan import ema as ema_lib
from spade_jax.models.base import Input, select_fields
from spade_jax.models.label_map import LabelMapFamily
from spade_jax.models.spade import step as step_lib
from spade_jax.models.spade.model import SPADEModel


@models.register("spade")
class SPADEFamily(LabelMapFamily):
  """See the module docstring; the interface is `spade_jax.models.base.Family`."""

  state_fields = ("model.", "data.label_nc", "data.contain_dontcare_label", "data.no_instance",
                  "data.crop_size", "data.aspect_ratio")

  def __post_init__(self):
    object.__setattr__(self, "model", SPADEModel(self.config, self.axis_name))

  # ----- config -----
  @classmethod
  def state_signature(cls, config) -> dict:
    sig = super().state_signature(config)
    d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    ema = select_fields(d, ("train.ema_decay",))
    if ema:  # the EMA copy is part of the state when the decay is positive
      sig["train.ema_decay > 0"] = float(ema["train.ema_decay"] or 0) > 0
    mult = select_fields(d, ("train.lr_E_mult",))
    if mult:  # an encoder lr multiplier ≠ 1 adds a (masked scale) node to the G optimiser's state
      sig["train.lr_E_mult != 1"] = float(mult["train.lr_E_mult"]) != 1.0
    return sig

  @classmethod
  def check_config(cls, config, training: bool = True) -> list[str]:
    from spade_jax.models.spade.checks import problems
    return problems(config, training)

  @staticmethod
  def legacy_key(key: str) -> str:
    """The name of a state leaf in checkpoints written before the family interface (one optax
    state per net group: `g_opt_state.*`, and `d_opt_state.*` without the `D` level)."""
    if key.startswith("opt_state.G."):
      return "g_opt_state." + key[len("opt_state.G."):]
    if key.startswith("opt_state.D."):
      return "d_opt_state." + re.sub(r"^(\d+)\.(mu|nu)\.D\.", r"\1.\2.", key[len("opt_state.D."):])
    return key

  @property
  def multimodal(self) -> bool:
    return bool(self.config.model.use_vae)

  @property
  def _style_photo(self) -> bool:
    """Whether G reads a style photo: the VAE encoder, or per-region codes (SEAN-style variant)."""
    return bool(self.config.model.use_vae) or self.model.region_styles

  # ----- training -----
  def init_state(self, rng):
    return step_lib.create_train_state(self.model, rng)

  def train_step(self, state, batch, resources=None):
    vgg_fn = None
    if resources is not None:
      from spade_jax.gan.vgg import VGG19Features
      from spade_jax.nn.precision import compute_dtype
      net = VGG19Features(dtype=compute_dtype(self.config))
      vgg_fn = lambda x: net.apply(resources, x)  # noqa: E731
    return step_lib.train_step(self.model, state, batch, vgg_fn=vgg_fn, axis_name=self.axis_name)

  def load_resources(self):
    """The VGG19 weights of the perceptual loss (`train.vgg_weights`; "random" = random weights, for
    timing runs only), or None with `train.no_vgg_loss`."""
    if self.config.train.no_vgg_loss:
      return None
    if self.config.train.vgg_weights == "random":
      import jax
      import numpy as np
      from spade_jax.gan.vgg import VGG19Features
      h, w = self.image_hw
      return VGG19Features().init(jax.random.PRNGKey(0), np.zeros((1, h, w, 3), np.float32))
    from spade_jax.gan.vgg import load_vgg19
    return load_vgg19(self.config.train.vgg_weights)

  def learning_rates(self, step: int) -> dict:
    g, d = step_lib.schedules(self.config)
    return {"lr_G": float(g(step)), "lr_D": float(d(step))}

  # ----- sampling -----
  def sampling_variables(self, state) -> dict:
    return ema_lib.ema_variables(state.variables, state.ema, step_lib.SAMPLING_NETS)

  def needs_refinement(self, state) -> bool:
    return state.ema is not None

  @property
  def refinement_batches(self) -> int:
    return int(self.config.train.get("ema_bn_batches", 4))

  def refine_sampling_variables(self, variables, batches, rng):
    model = self.model

    def forward(v, batch, key):
      eps = None
      if model.config.model.use_vae:  # noise for this device's rows of the global batch
        eps = step_lib.draw_eps(model, key, batch["image"].shape[0], self.axis_name)
      _, new_stats, _ = model.generate(v, model.semantics(batch), image=batch["image"], eps=eps, train=True)
      return new_stats

    return ema_lib.reestimate(forward, variables, batches, rng)

  def sample(self, variables, batch, rng):
    """Eval-mode generation (running statistics; with a VAE, z encoded from `batch["image"]`)."""
    fake, _, _ = self.model.generate(variables, self.model.semantics(batch), image=batch["image"], rng=rng,
                                     train=False)
    return fake

  # ----- inference -----
  def input_spec(self) -> tuple[Input, ...]:
    m, d = self.config.model, self.config.data
    spec = [Input("label", "label", True, "class ids [B, H, W]")]
    if not d.no_instance:
      spec.append(Input("instance", "instance", True,
                        "this model uses instance edges (no_instance=False): pass instance ids [B, H, W] "
                        "(or the label map itself to use class boundaries as instance edges)"))
    if self._style_photo:
      sean = self.model.region_styles and not m.use_vae
      spec.append(Input("style_image", "image", sean,
                        "a SEAN generator needs `style_image` (its per-region style codes are read from "
                        "it): [B, H, W, 3] in [-1, 1]" if sean else "style photo [B, H, W, 3] in [-1, 1]"))
    if m.use_vae:
      spec.append(Input("z", "vector", False, f"style codes [B, {m.z_dim}]"))
    return tuple(spec)

  def check_inputs(self, inputs: dict, where=None) -> dict:
    out = super().check_inputs(inputs, where)
    style = out.get("style_image")
    if style is not None and self.model.region_styles and tuple(style.shape[1:3]) != tuple(out["label"].shape[1:3]):
      raise ValueError(f"style_image: SEAN reads per-region styles, so its size {tuple(style.shape[1:3])} "
                       f"must equal the label map's {tuple(out['label'].shape[1:3])}")
    return out

  def generate(self, variables, inputs, rng=None):
    if self.config.model.use_vae and inputs.get("z") is None and rng is None:
      raise ValueError("a VAE generator needs `z` or `rng` (random z, or the noise of the style encoding)")
    seg = self.model.semantics({"label": inputs["label"], "instance": inputs.get("instance")})
    eps = None
    if self.posterior_mean and inputs.get("z") is None and inputs.get("style_image") is not None:
      eps = np.zeros((len(inputs["label"]), self.config.model.z_dim), np.float32)  # z = mu
    fake, _, _ = self.model.generate(variables, seg, image=inputs.get("style_image"), z=inputs.get("z"),
                                     eps=eps, rng=rng, train=False)
    return fake

  @property
  def posterior_mean(self) -> bool:
    """`eval.style_code == "mean"`: a VAE style photo gives z = mu (no draw), so one photo, one image."""
    e = self.config.get("eval") or {}
    return bool(self.config.model.use_vae) and e.get("style_code", "sample") == "mean"

  def eval_inputs(self, batch: dict) -> dict:
    out = self.labels_and_instances(batch)
    if self._style_photo:  # the paired real image: the VAE's style / the per-region codes
      out["style_image"] = batch["image"]
    return out

  def diversity_inputs(self, batch: dict) -> dict:
    return self.labels_and_instances(batch)  # z ~ N(0, I) from the RNG

  def example_inputs(self, batch: dict) -> dict:
    out = self.labels_and_instances(batch)
    if self._style_photo:
      out["style_image"] = batch["image"]
    if self.config.model.use_vae:
      out["z"] = np.zeros((len(batch["label"]), self.config.model.z_dim), np.float32)
    return out

  def eval_protocol(self) -> dict:
    if self.config.model.use_vae:
      code = "z = the posterior mean" if self.posterior_mean else "z = mu + σ·eps, one draw per image"
      gen = f"style-guided from the paired real image (VAE encoder; {code})"
    elif self.model.region_styles:
      gen = "per-region style codes from the paired real image (SEAN reconstruction setting)"
    else:
      gen = "label map only"
    return {"generation": gen}

  # ----- official checkpoints -----
  @classmethod
  def load_official(cls, checkpoint: str, options, **kwargs) -> tuple["SPADEFamily", dict]:
    """The released `latest_net_G.pth` (+ `_net_E.pth`) and `opt.txt`, read without torch."""
    from spade_jax.models.spade.official.checkpoint import load_official
    model, variables = load_official(checkpoint, options, **kwargs)
    return cls(model.config), variables
