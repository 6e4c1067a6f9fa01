"""SEAN (ZPdesu/SEAN) as a model family: `SEANModel`'s networks, the official step, and the region-style
API (codes from a style photo, generation from codes, per-class mixing with the mean-code fallback).

Inputs of `generate`: `label` (+ `instance` when the layout has instance maps), and the style: a style
photo `style_image` (every region takes the code of its class in the photo; the paired photo gives the
reconstruction) or per-region codes `styles [B, K, S]` (`encode_styles`, `styles.mix_styles`,
`styles.with_mean`), which take precedence. The noise of the ACE layers is drawn from `rng`
(`jax.random.key(0)` when None, as the official UI seeds 0 before every generation), so outputs are
repeatable; the model is not multimodal.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from spade_jax import models
from spade_jax.gan import vgg as vgg_lib
from spade_jax.models.base import Input
from spade_jax.models.label_map import LabelMapFamily
from spade_jax.models.sean import step as step_lib
from spade_jax.models.sean import styles as styles_lib
from spade_jax.models.sean.model import SEANModel
from spade_jax.nn.precision import compute_dtype
from spade_jax.nn.sean import OFFICIAL_STYLE_FCS

EVAL_STYLES = ("both", "reconstruction", "mean")
SETTING_NAMES = {"reconstruction": "reconstruction", "mean": "mean_codes"}  # eval.style → eval/<step>/<name>


@models.register("sean")
class SEANFamily(LabelMapFamily):
  """See the module docstring; the interface is `spade_jax.models.base.Family`."""

  state_fields = ("model.", "data.label_nc", "data.contain_dontcare_label", "data.no_instance",
                  "data.crop_size", "data.aspect_ratio")

  def __post_init__(self):
    object.__setattr__(self, "model", SEANModel(self.config, self.axis_name))

  @classmethod
  def check_config(cls, config, training: bool = True) -> list[str]:
    m, d = config.model, config.data
    out = []
    k = SEANModel.channels(d)
    n = int(m.num_style_fc)
    if n not in (0, 1) and n < k:
      extra = (" + don't-care" if d.contain_dontcare_label else "") + ("" if d.no_instance else " + instance edge")
      out.append(f"model.num_style_fc={n}: the layout has {k} input channels (label_nc {d.label_nc}{extra}), "
                 f"each needs a style Linear (0 = one per channel; the official code builds {OFFICIAL_STYLE_FCS})")
    if m.num_upsampling_layers not in ("normal", "more", "most"):
      out.append(f"model.num_upsampling_layers={m.num_upsampling_layers!r}: expected normal or more")
    if config.get("eval") is not None and config.eval.get("style", "both") not in EVAL_STYLES:
      out.append(f"eval.style={config.eval.style!r}: expected one of {EVAL_STYLES}")
    return out

  # ----- training -----
  def init_state(self, rng):
    return step_lib.create_train_state(self.model, rng)

  def train_step(self, state, batch, resources=None):
    vgg_fn = None if resources is None else vgg_lib.features_fn(resources, compute_dtype(self.config))
    return step_lib.train_step(self.model, state, batch, vgg_fn=vgg_fn, axis_name=self.axis_name)

  def load_resources(self):
    """The VGG19 weights of the perceptual loss (`train.vgg_weights`), or None with `train.no_vgg_loss`."""
    if self.config.train.no_vgg_loss:
      return None
    return vgg_lib.perceptual_resources(self.config.train, self.image_hw)

  def learning_rates(self, step: int) -> dict:
    g, d = step_lib.schedules(self.config)
    return {"lr_G": float(g(step)), "lr_D": float(d(step))}

  # ----- sampling -----
  def sampling_variables(self, state) -> dict:
    return {"G": state.variables["G"]}

  def sample(self, variables, batch, rng):
    """Reconstructions: the label map with the codes of its paired photo."""
    seg = self.model.semantics(batch)
    return self.model.generate(variables, seg, image=batch["image"], rng=rng, train=False)[0]

  # ----- inference -----
  @property
  def num_channels(self) -> int:
    return self.model.semantic_nc

  def input_spec(self) -> tuple[Input, ...]:
    d = self.config.data
    spec = [Input("label", "label", True, "class ids [B, H, W]")]
    if not d.no_instance:
      spec.append(Input("instance", "instance", True,
                        "this model uses instance edges (no_instance=False): pass instance ids [B, H, W] "
                        "(or the label map itself to use class boundaries as instance edges)"))
    k, s = self.num_channels, self.model.style_length
    spec.append(Input("style_image", "image", True,
                      "a SEAN generator needs a style photo `style_image` [B, H, W, 3] in [-1, 1] of the label "
                      f"map's size (or per-region codes `styles` [B, {k}, {s}])"))
    spec.append(Input("styles", "codes", False,
                      f"per-region style codes [B, {k}, {s}] (one row per input channel), e.g. from "
                      "encode_styles / mix_styles; used instead of style_image"))
    return tuple(spec)

  def check_inputs(self, inputs: dict, where=None) -> dict:
    inputs = {k: v for k, v in inputs.items() if v is not None}
    placeholder = "styles" in inputs and "style_image" not in inputs
    if placeholder:  # codes replace the photo: the photo is then not required
      lab = np.asarray(inputs.get("label"))
      inputs["style_image"] = np.zeros(lab.shape[:1] + lab.shape[1:3] + (3,), np.float32) if lab.ndim == 3 else None
    style = inputs.get("style_image")
    if style is not None and not placeholder:
      style = np.asarray(style)
      if not np.issubdtype(style.dtype, np.floating):
        raise ValueError(f"style_image: expected floats in [-1, 1] (a uint8 photo p as p / 127.5 - 1), got dtype "
                         f"{style.dtype}")
      if style.ndim == 4 and style.shape[-1] != 3:
        raise ValueError(f"style_image: {style.shape[-1]} channels; SEAN's style encoder reads RGB photos "
                         "[B, H, W, 3] (convert grey / RGBA photos to RGB)")
    out = super().check_inputs(inputs, where)
    if placeholder:
      del out["style_image"]
    else:
      style = out["style_image"]
      if tuple(style.shape[1:3]) != tuple(out["label"].shape[1:3]):
        raise ValueError(f"style_image: size {style.shape[1]}x{style.shape[2]} (HxW) differs from the label map's "
                         f"{out['label'].shape[1]}x{out['label'].shape[2]}: SEAN pools the photo under the label "
                         "map's regions (resize the photo first)")
      if np.abs(style).max(initial=0) > 1.0 + 1e-3:
        raise ValueError(f"style_image: values up to {np.abs(style).max():.3g}, expected [-1, 1] (a uint8 photo "
                         "p as p / 127.5 - 1)")
    if "styles" in out:
      codes = styles_lib.check_codes(out["styles"], num_channels=self.num_channels,
                                     style_length=self.model.style_length)
      b = out["label"].shape[0]
      if codes.shape[0] not in (1, b):
        raise ValueError(f"styles: {codes.shape[0]} rows of codes for {b} label maps")
      out["styles"] = np.broadcast_to(codes, (b,) + codes.shape[1:])
    return out

  def generate(self, variables, inputs, rng=None):
    seg = self.model.semantics({"label": inputs["label"], "instance": inputs.get("instance")})
    rng = jax.random.key(0) if rng is None else rng
    return self.model.generate(variables, seg, image=inputs.get("style_image"), styles=inputs.get("styles"),
                               rng=rng, train=False)[0]

  def eval_inputs(self, batch: dict) -> dict:
    out = self.labels_and_instances(batch)
    if self.eval_style == "mean":
      mean = self.mean_codes()
      codes, _ = styles_lib.with_mean(np.zeros((1,) + mean.codes.shape, np.float32),
                                      np.zeros((1, mean.codes.shape[0]), bool), mean)
      out["styles"] = jnp.broadcast_to(jnp.asarray(codes), (batch["label"].shape[0],) + codes.shape[1:])
    else:  # the paired real image: the reconstruction setting (ZPdesu/SEAN#8)
      out["style_image"] = batch["image"]
    return out

  def example_inputs(self, batch: dict) -> dict:
    out = self.labels_and_instances(batch)
    out["style_image"] = batch["image"]
    b = len(batch["label"])
    out["styles"] = np.full((b, self.num_channels, self.model.style_length), 0.1, np.float32)
    return out

  @property
  def eval_style(self) -> str:
    """"reconstruction" or "mean": what `eval_inputs` does ("both", the harness's default, evaluates
    the two as `eval_settings`; alone, `eval_inputs` then reconstructs)."""
    return "reconstruction" if self._eval_style_option == "both" else self._eval_style_option

  @property
  def _eval_style_option(self) -> str:
    """`eval.style` as configured (default "both")."""
    e = self.config.get("eval")
    return (e.get("style", "both") if e is not None else "both") or "both"

  def eval_settings(self, workdir: str) -> dict:
    """`eval.style`: "both" (default) → `reconstruction` and `mean_codes` (the latter where the
    mean-codes file exists: `eval.mean_codes`, default `<workdir>/mean_style_codes.npz`); one name →
    that setting alone. Each setting is this family with `eval.style` (and the codes' path) set."""
    style = self._eval_style_option
    path = self.mean_codes_path(workdir)
    out = {}
    for s in (("reconstruction", "mean") if style == "both" else (style,)):
      if s == "mean" and style == "both" and not os.path.isfile(path):
        out[SETTING_NAMES[s]] = (f"no mean style codes file {path} (write it with `python -m "
                                 f"spade_jax.models.sean.mean_codes --workdir {workdir}`)")
        continue
      config = self.config.copy_and_resolve_references()
      with config.unlocked():
        config.eval.style = s
        if s == "mean":
          config.eval.mean_codes = path
      out[SETTING_NAMES[s]] = dataclasses.replace(self, config=config)
    return out

  def eval_protocol(self) -> dict:
    if self.eval_style == "mean":
      return {"generation": "label map + mean style codes per class (the mean codes file; by default over "
                            "the val photos)", "style_setting": "mean codes"}
    return {"generation": "label map + the paired real photo as the style image: reconstruction, as SEAN "
                          "reports (ZPdesu/SEAN#8)", "style_setting": "reconstruction",
            "style_cross": "the per-region codes of photo B under B's own label map; a class B lacks gets "
                           "a zero code (the whole-photo rule without mean codes or A's photo)"}

  def cross_inputs(self, variables, inputs, style_inputs):
    """Photo B's style for label map A as a user restyles a scene: B's codes encoded under B's own label
    map (not A's regions of B's pixels); a class B lacks keeps the encoder's zero code."""
    if "style_image" not in style_inputs:
      return super().cross_inputs(variables, inputs, style_inputs)
    codes, _ = _encode(self, variables["G"], style_inputs["style_image"], style_inputs["label"],
                       style_inputs.get("instance"))
    return {**{k: v for k, v in inputs.items() if k != "style_image"}, "styles": codes}

  # ----- region styles -----
  def encode_styles(self, variables: dict, image, labels, instance=None) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a style photo under a label map: `(codes [B, K, S], presence [B, K])` (host arrays).
    Presence: the channels the photo has at the encoder's resolution (half size); absent rows are zero."""
    inputs = {"label": labels, "style_image": image}
    if instance is not None or not self.config.data.no_instance:
      inputs["instance"] = labels if instance is None else instance
    checked = self.check_inputs(inputs)
    codes, presence = _encode(self, variables["G"], jnp.asarray(checked["style_image"]),
                              jnp.asarray(checked["label"], jnp.int32),
                              None if "instance" not in checked else jnp.asarray(checked["instance"], jnp.int32))
    return np.asarray(codes), np.asarray(presence)

  def compose_styles(self, variables: dict, labels, instance=None, *, style_image=None, style_labels=None,
                     style_instance=None, classes: Optional[Sequence[int]] = None, target_image=None,
                     mean: Optional[styles_lib.MeanCodes] = None, alpha: float = 1.0) -> np.ndarray:
    """The `styles` input for label maps `labels` from style photos (what `eval.py --mode synthesize`
    builds from `--style`, `--style-classes`, the paired photos and the mean codes):
      * `classes=None`: every region from `style_image` (encoded under `style_labels`, default `labels`):
        the photo's code where it has the class, else the mean code, else `target_image`'s own code,
        else zero;
      * `classes`: those classes from `style_image`, blended by `alpha`, every other region from
        `target_image` (required), by `styles.mix_styles` (a class the photo lacks: the mean code, else the
        target's own); classes the target lacks take the mean code when there is one.
    → codes `[B, K, S]`."""
    b = np.asarray(labels).shape[0]
    target = None
    if target_image is not None:
      target = self.encode_styles(variables, target_image, labels, instance)
    elif classes is not None:
      raise ValueError("style classes need the target's own photo (the paired photo of each label map) "
                       "for the regions that keep their style")
    if style_image is None:
      raise ValueError("compose_styles needs a style photo (style_image)")
    src_labels = labels if style_labels is None else style_labels
    src_inst = instance if style_labels is None else style_instance
    src = self.encode_styles(variables, style_image, src_labels, src_inst)
    if src[0].shape[0] != b:
      if src[0].shape[0] != 1:
        raise ValueError(f"{src[0].shape[0]} style photos for {b} label maps (give one, or one per label map)")
      src = tuple(np.broadcast_to(x, (b,) + x.shape[1:]) for x in src)
    if classes is None:
      codes, has = styles_lib.with_mean(src[0], src[1], mean)
      if target is not None:
        codes = np.where((~has & target[1])[..., None], target[0], codes)
      return codes.astype(np.float32)
    filled, _ = styles_lib.with_mean(target[0], target[1], mean)
    return styles_lib.mix_styles((filled, target[1]), src, classes, alpha, mean)

  def class_names(self) -> tuple[str, ...]:
    """The dataset's class names: `eval.class_names` (comma-separated), the synthetic landscapes' own,
    or () (classes are then named by their ids)."""
    e = self.config.get("eval")
    given = (e.get("class_names", "") if e is not None else "") or ""
    if given:
      return tuple(n.strip() for n in given.split(","))
    if self.config.data.name == "synthetic":
      from spade_jax.data.synthetic.layout import CLASSES
      return tuple(CLASSES)
    return ()

  def class_ids(self, names: Sequence[str], class_names: Optional[Sequence[str]] = None) -> list[int]:
    """Class names (or ids as strings) → ids; one ValueError naming an unknown class."""
    class_names = self.class_names() if class_names is None else tuple(class_names)
    out = []
    for n in names:
      n = str(n).strip()
      if n.isdigit() and int(n) < self.config.data.label_nc:
        out.append(int(n))
      elif n in class_names:
        out.append(list(class_names).index(n))
      else:
        known = ", ".join(class_names) if class_names else f"ids 0..{self.config.data.label_nc - 1}"
        raise ValueError(f"style class {n!r} is not a class of this model ({known})")
    return out

  def mean_codes_path(self, workdir: Optional[str] = None) -> str:
    path = self.config.get("eval", {}).get("mean_codes", "") if self.config.get("eval") is not None else ""
    return path or os.path.join(workdir or ".", styles_lib.MEAN_CODES_FILE)

  def mean_codes(self, path: Optional[str] = None) -> styles_lib.MeanCodes:
    return styles_lib.load_mean_codes(path or self.mean_codes_path(), num_channels=self.num_channels,
                                      style_length=self.model.style_length)

  # ----- official checkpoints -----
  @classmethod
  def load_official(cls, checkpoint: str, options, **kwargs) -> tuple["SEANFamily", dict]:
    """The official `latest_net_G.pth` (+ `net_D=`) and `opt.txt`, read without torch."""
    from spade_jax.models.sean.official import load_official
    config, variables = load_official(checkpoint, options, **kwargs)
    return cls(config), variables


@functools.partial(jax.jit, static_argnums=(0,))
def _encode(family, g_variables, image, labels, instance):
  seg = family.model.semantics({"label": labels, "instance": instance})
  return family.model.encode_styles(g_variables, image, seg)
