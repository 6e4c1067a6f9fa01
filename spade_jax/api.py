"""The notebook API: one call loads a model, one call makes images.

    import spade_jax
    model = spade_jax.load("runs/synthetic")                  # a training workdir (latest or step=N)
    model = spade_jax.load("latest_net_G.pth", options="opt.txt")   # an official checkpoint
    model = spade_jax.load("model.safetensors")               # an exported model
    model.info                                                # family, classes, image size, inputs
    images = model.generate(labels, seed=0, style="photo.png")  # numpy uint8 [B, H, W, 3]
    model.export("model.safetensors")                         # + a model card beside it

Inputs are validated as on the command line (one-line errors naming the input). Exported files are
safetensors (the weights, flat `net/collection/.../leaf` keys) with the config, the class table and
the provenance in the file's metadata.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Optional

import numpy as np

from spade_jax.errors import InputError

EXPORT_FORMAT = "spade_jax.export/1"
NONCOMMERCIAL = "CC BY-NC-SA 4.0"


class Model:
  """A family with its sampling variables (see the module docstring)."""

  def __init__(self, family, variables: dict, *, step: Optional[int] = None, source: str = "",
               licence: str = "", metrics: Optional[dict] = None):
    self.family, self.variables = family, variables
    self.step, self.source, self.licence, self.metrics = step, source, licence, metrics

  # ----- what it is -----
  @property
  def config(self):
    return self.family.config

  @property
  def info(self) -> dict:
    from spade_jax.paint.classes import class_table
    h, w = self.family.image_hw
    classes = [c.to_json() for c in class_table(self.family)] if "label" in self._spec else []
    return {"family": self.family.name, "image_size": [h, w], "classes": classes,
            "inputs": [{"name": i.name, "kind": i.kind, "required": i.required, "doc": i.doc}
                       for i in self.family.input_spec()],
            "multimodal": bool(self.family.multimodal), "step": self.step, "source": self.source,
            "licence": self.licence}

  @property
  def _spec(self) -> dict:
    return {i.name: i for i in self.family.input_spec()}

  def __repr__(self) -> str:
    h, w = self.family.image_hw
    return f"<spade_jax.Model {self.family.name} {h}x{w} step={self.step} from {self.source!r}>"

  # ----- images -----
  def generate(self, labels=None, *, seed: int = 0, style=None, instance=None, **inputs) -> np.ndarray:
    """uint8 images `[B, H, W, 3]` (`[H, W, 3]` for one `[H, W]` label map).

    `labels`: class ids `[H, W]` / `[B, H, W]` or a label PNG path; `style`: a style photo (path, or
    an `[H, W, 3]` uint8 / [-1, 1] float array) for families that take one; `instance`: instance ids
    (default for models with instance edges: the class boundaries, with a warning); other inputs of
    `info["inputs"]` by name (e.g. `z=`, `styles=`). `seed` picks the random draws."""
    import jax

    from spade_jax.evaluate import synthesize as syn
    spec = self._spec
    single = False
    if labels is not None:
      if isinstance(labels, (str, os.PathLike)):
        labels = syn.read_label_png(os.fspath(labels), int(self.config.data.label_nc))
      labels = np.asarray(labels)
      single = labels.ndim == 2
      inputs["label"] = labels[None] if single else labels
    if "instance" in spec:
      if instance is None and "label" in inputs:
        warnings.warn("this model uses instance edges and no instance map was given: using the class "
                      "boundaries of the label map as instance edges", stacklevel=2)
        instance = inputs["label"]
      if instance is not None:
        instance = np.asarray(instance)
        inputs["instance"] = instance[None] if instance.ndim == 2 else instance
    elif instance is not None:
      raise InputError(f"instance: the {self.family.name} model takes no instance map")
    if style is not None:
      if "style_image" not in spec:
        raise InputError(f"style: this {self.family.name} model takes no style photo (its inputs: "
                         f"{', '.join(spec)})")
      inputs["style_image"] = self._style_array(style)
    images = syn.generate(self.family, self.variables, inputs, rng=jax.random.key(int(seed)))
    out = syn.to_uint8(images)
    return out[0] if single else out

  def _style_array(self, style) -> np.ndarray:
    from PIL import Image
    h, w = self.family.image_hw
    if isinstance(style, (str, os.PathLike)):
      from spade_jax.evaluate.synthesis_cli import _read_style
      return _read_style(os.fspath(style), (h, w))
    a = np.asarray(style)
    if a.ndim == 3:
      a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
      raise InputError(f"style: expected a photo [H, W, 3] (or [B, H, W, 3]), got shape {a.shape}")
    if a.dtype == np.uint8:
      if a.shape[1:3] != (h, w):
        a = np.stack([np.asarray(Image.fromarray(x).resize((w, h), Image.BICUBIC)) for x in a])
      return a.astype(np.float32) / 127.5 - 1.0
    return a.astype(np.float32)

  # ----- export -----
  def export(self, path: str, *, card: bool = True) -> str:
    """Writes the sampling weights + config + class table as safetensors (and `<stem>.md`, the model
    card). Returns the path."""
    from flax import traverse_util
    from safetensors.numpy import save_file
    import jax
    if not path.endswith(".safetensors"):
      raise InputError(f"{path}: the export file name should end in .safetensors")
    flat = traverse_util.flatten_dict(jax.device_get(self.variables), sep="/")
    tensors = {k: np.ascontiguousarray(np.asarray(v)) for k, v in flat.items()}
    meta = {"format": EXPORT_FORMAT, "family": self.family.name,
            "config": json.dumps(self.config.to_dict(), sort_keys=True, default=str),
            "classes": json.dumps(self.info["classes"]), "step": json.dumps(self.step),
            "source": self.source, "licence": self.licence, "metrics": json.dumps(self.metrics),
            "spade_jax_version": _version()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file(tensors, path, metadata=meta)
    if card:
      from spade_jax.export_card import write_card
      write_card(self, os.path.splitext(path)[0] + ".md", os.path.basename(path))
    return path


def _version() -> str:
  from spade_jax import __version__
  return __version__


# ----------------------------------------------------------------------------------------------
def load(path: str, *, step: Optional[int] = None, options: Any = None, family: Optional[str] = None) -> Model:
  """A training workdir, an official checkpoint (`options=` its opt.txt), or an exported
  `.safetensors` file → `Model`. See the module docstring."""
  path = os.fspath(path)
  if path.endswith(".safetensors"):
    return _load_export(path)
  if options is not None:
    from spade_jax import models
    from spade_jax.configs.common import DEFAULT_FAMILY
    cls = models.get(family or DEFAULT_FAMILY)
    if getattr(cls, "load_official", None) is None:
      raise InputError(f"the {cls.name} family cannot read official checkpoints")
    fam, variables = cls.load_official(path, options)
    licence = getattr(cls, "official_licence", NONCOMMERCIAL)
    return Model(fam, variables, source=os.path.abspath(path), licence=licence)
  if os.path.isdir(path):
    return _load_workdir(path, step)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such training workdir or model file")
  raise InputError(f"{path}: not a training workdir, an exported .safetensors file, or an official "
                   "checkpoint (give options='opt.txt' for one)")


def open_model(*, config=None, workdir: Optional[str] = None, step: Optional[int] = None,
               official_checkpoint: Optional[str] = None, official_options=None, model_file: Optional[str] = None,
               family: Optional[str] = None, log=print) -> Model:
  """What the commands load (`eval.py`, `paint.py`): an official checkpoint + options, an exported file,
  or a training workdir (with `config`, or the config the run wrote there). Raises UserError naming the
  missing flag when the combination is incomplete."""
  from spade_jax.errors import UserError
  if official_checkpoint or official_options:
    if not (official_checkpoint and official_options):
      raise UserError("--official-checkpoint and --official-options go together")
    return load(official_checkpoint, options=official_options, family=family)
  if model_file:
    return load(model_file)
  if not workdir:
    raise UserError("give --workdir (a training run; --config too unless it holds config.json), "
                    "--model FILE.safetensors, or --official-checkpoint with --official-options")
  from spade_jax.evaluate.restore import load_for_inference
  fam, variables, step = load_for_inference(config if config is not None else workdir_config(workdir), workdir,
                                            step, return_step=True, log=log)
  return Model(fam, variables, step=step, source=os.path.abspath(workdir))


def workdir_config(workdir: str):
  """The config a training run wrote into its workdir (`config.json`)."""
  import ml_collections
  f = os.path.join(workdir, "config.json")
  if not os.path.isfile(f):
    raise FileNotFoundError(f"{f}: not found (is {workdir} a training workdir?); give the config too")
  with open(f) as fh:
    return ml_collections.ConfigDict(json.load(fh))


def _load_workdir(workdir: str, step: Optional[int]) -> Model:
  model = open_model(workdir=workdir, step=step, log=lambda *_: None)
  model.metrics = workdir_metrics(workdir, model.step)
  return model


def workdir_metrics(workdir: str, step) -> Optional[dict]:
  """`<workdir>/eval/<step>/metrics.json` when that step was evaluated."""
  m = os.path.join(workdir, "eval", str(step), "metrics.json")
  if not os.path.isfile(m):
    return None
  with open(m) as fh:
    return json.load(fh)


def _load_export(path: str) -> Model:
  import ml_collections
  from flax import traverse_util
  from safetensors import safe_open
  from safetensors.numpy import load_file
  from spade_jax import models
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such exported model")
  try:
    with safe_open(path, framework="numpy") as f:
      meta = f.metadata() or {}
    tensors = load_file(path)
  except Exception as e:  # noqa: BLE001 - a damaged or foreign file
    raise InputError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0][:120]})") from None
  if meta.get("format") != EXPORT_FORMAT:
    raise InputError(f"{path}: not a spade_jax export (metadata format {meta.get('format')!r}, expected "
                     f"{EXPORT_FORMAT!r})")
  config = ml_collections.ConfigDict(json.loads(meta["config"]))
  family = models.build(config)
  variables = traverse_util.unflatten_dict(tensors, sep="/")
  import jax
  template = jax.eval_shape(family.sampling_variables, jax.eval_shape(family.init_state, jax.random.PRNGKey(0)))
  want = traverse_util.flatten_dict(template, sep="/")
  got = traverse_util.flatten_dict(variables, sep="/")
  bad = sorted(set(want) ^ set(got)) + [k for k in want if k in got and tuple(got[k].shape) != tuple(want[k].shape)]
  if bad:
    raise InputError(f"{path}: its weights do not match its config ({len(bad)} entries, e.g. {bad[0]})")
  return Model(family, variables, step=json.loads(meta.get("step", "null")), source=meta.get("source", ""),
               licence=meta.get("licence", ""), metrics=json.loads(meta.get("metrics", "null")))
