"""The model-family interface: everything the training engine, `eval.py`, synthesis, the benchmarks and
the paint app may call on a system, and nothing else.

A family is a frozen dataclass of `(config, axis_name)`, hashed by identity so that it can be a static
argument of `jax.jit`. Every method that runs on devices is pure (explicit variables, explicit RNG) and
runs unchanged under `jax.jit` (global batch, sharded or not) and under `jax.pmap` with the family
built with an `axis_name` (gradients, metrics and batch statistics averaged over it).

Training (used by `spade_jax.train`):
  * `init_state(rng)` → the state pytree (everything a run carries; what a checkpoint holds);
  * `train_step(state, batch, resources)` → `(state, metrics)`: one iteration; `resources` are the
    frozen host-loaded arrays the step needs (`load_resources()`, e.g. VGG19 weights), or None;
  * `learning_rates(step)` → `{name: rate}` for the logs;
  * `state_fields`: the ONE list of config fields that shape the state — the resume check refuses a
    checkpoint written with other values, and the compiled-driver cache is keyed by them (plus
    `step_fields`, what else the compiled step reads);
  * optional `staged_train(workdir, run)`: families that train in stages (SinGAN: scale by scale)
    drive the engine themselves: `run(config, workdir, family=stage_family, data_iterator=it)` per
    stage (`spade_jax.train.loop.train_and_evaluate`: checkpoints, resume, progress per stage); their
    `first_stage()` returns the first stage's family (what the contract test steps).

Sampling (training-time grids, the eval harness, inference):
  * `sampling_variables(state)` → the variables to sample with (EMA weights when the run keeps them);
  * `refine_sampling_variables(variables, batches, rng)` (pure; `needs_refinement(state)` says when):
    e.g. batch-norm statistics re-estimated for EMA weights on recent training batches;
  * `sample(variables, batch, rng)`: eval-mode images for a data batch (grids);
  * `input_spec()` and `generate(variables, inputs, rng)`: what a user may give (label map, instance
    map, z, a style image, per-region codes, feature maps, …) and the images it makes;
    `check_inputs(inputs)` validates host inputs with one-line errors that name the input;
  * `eval_inputs(batch)` / `eval_protocol()`: the inputs of the evaluation protocol's setting and the
    strings it writes into `metrics.json`; `multimodal`: whether random draws change the output;
    `eval_settings(workdir)`: several named settings the harness evaluates side by side (default none).
Optional: `load_official(checkpoint, options)` (class method) reads the official release's weights.
Optional hooks of the paint app (read with getattr): `paint_controls()` → `{input name: {"type":
"per_class" | "checkbox" | "slider", "min", "max", "default", "label"}}` for `int` inputs, and
`paint_classes()` → `[(name, (r, g, b)), ...]` for families without `data.label_nc`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, ClassVar, Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class Input:
  """One input of `Family.generate` (a key of its `inputs` dict)."""

  name: str
  kind: str  # label (int ids [B,H,W]) | instance (int ids [B,H,W]) | image ([B,H,W,3] in [-1,1]) |
  #            vector (float [B,D]) | codes (float [B,K,D]) | map (float [B,H,W,C]) | int (per-class ints)
  required: bool = False
  doc: str = ""


def flat_config(d: dict, prefix: str = "") -> dict:
  """Nested config dict → `{"a.b": value}`."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flat_config(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def select_fields(config_dict: dict, fields) -> dict:
  """The entries of a flattened config named by `fields`: exact names, or prefixes ending in "."."""
  flat = flat_config(config_dict)
  names = [f for f in fields if not f.endswith(".")]
  prefixes = tuple(f for f in fields if f.endswith("."))
  return {k: v for k, v in flat.items() if k in names or (prefixes and k.startswith(prefixes))}


def _as_dict(config) -> dict:
  return config.to_dict() if hasattr(config, "to_dict") else dict(config)


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: usable as a static jit argument
class Family:
  """Base class of the families (see the module docstring). Subclasses register with
  `@spade_jax.models.register("name")`."""

  config: Any
  axis_name: Optional[str] = None

  name: ClassVar[str] = ""
  state_fields: ClassVar[tuple[str, ...]] = ("model.",)
  step_fields: ClassVar[tuple[str, ...]] = ("train.", "dtype", "batch_size", "total_steps")
  batch_keys: ClassVar[tuple[str, ...]] = ("image", "label", "instance")  # what the step reads
  multimodal: ClassVar[bool] = False

  def __post_init__(self):
    """Subclasses build their networks here (`object.__setattr__`: the dataclass is frozen)."""

  def with_axis(self, axis_name: Optional[str]) -> "Family":
    """The same family with collectives over `axis_name` (pmap) or without (None)."""
    return dataclasses.replace(self, axis_name=axis_name)

  # ----- config -----
  optional_config_fields: ClassVar[tuple[str, ...]] = ()  # fields a config may add to the defaults

  @classmethod
  def default_config(cls):
    """The family's defaults: `spade_jax/configs/<name>/default.py`'s get_config()."""
    import importlib
    return importlib.import_module(f"spade_jax.configs.{cls.name}.default").get_config()

  @classmethod
  def check_config(cls, config, training: bool = True) -> list[str]:
    """Problems of the family's own fields (ranges, combinations that cannot work), one string each
    naming the field (`training=False`: only what sampling needs); the unknown-field and type checks
    are done for every family (`spade_jax/configs/validate.py`)."""
    return []

  @classmethod
  def state_signature(cls, config) -> dict:
    """The values of `state_fields` (flattened); families may add derived entries."""
    return select_fields(_as_dict(config), cls.state_fields)

  @classmethod
  def state_differences(cls, saved, current) -> list[str]:
    """State-shaping fields that differ, as `name (checkpoint X, now Y)`. A field absent from the
    saved config (added to the config later) is not a difference."""
    a, b = cls.state_signature(saved), cls.state_signature(current)
    out = []
    for k in sorted(set(a) & set(b)):
      x, y = a[k], b[k]
      same_number = (isinstance(x, (int, float)) and isinstance(y, (int, float)) and float(x) == float(y))
      if x != y and not same_number:
        out.append(f"{k} (checkpoint {x!r}, now {y!r})")
    return out

  def compile_key(self) -> str:
    """What the compiled functions depend on: the state fields and the step fields."""
    d = _as_dict(self.config)
    sig = {**self.state_signature(d), **select_fields(d, self.step_fields)}
    return json.dumps({"family": self.name, **sig}, sort_keys=True, default=str)

  # ----- training -----
  def init_state(self, rng) -> Any:
    raise NotImplementedError

  def train_step(self, state, batch: dict, resources=None) -> tuple[Any, dict]:
    raise NotImplementedError

  def load_resources(self) -> Any:
    """Host pytree of frozen arrays the step needs (validated here, at the boundary), or None."""
    return None

  def learning_rates(self, step: int) -> dict[str, float]:
    return {}

  staged_train: ClassVar[Optional[Callable]] = None

  # ----- sampling -----
  def sampling_variables(self, state) -> dict:
    raise NotImplementedError

  def needs_refinement(self, state) -> bool:
    return False

  @property
  def refinement_batches(self) -> int:
    """How many recent training batches `refine_sampling_variables` wants (0 = none)."""
    return 0

  def refine_sampling_variables(self, variables: dict, batches: dict, rng) -> dict:
    """Pure; `batches` leaves are `[K, B, ...]` (K recent training batches)."""
    return variables

  def sample(self, variables: dict, batch: dict, rng):
    """Eval-mode images `[B, H, W, 3]` in [-1, 1] for a data batch (training grids)."""
    return self.generate(variables, self.eval_inputs(batch), rng)

  # ----- inference -----
  @property
  def image_hw(self) -> tuple[int, int]:
    d = self.config.data
    return round(d.crop_size / d.aspect_ratio), d.crop_size

  def input_spec(self) -> tuple[Input, ...]:
    raise NotImplementedError

  def generate(self, variables: dict, inputs: dict, rng=None):
    raise NotImplementedError

  def check_inputs(self, inputs: dict, where: Optional[str] = None) -> dict:
    """Validates host inputs against `input_spec` (names, shapes, dtypes); returns them as numpy
    arrays. Raises ValueError with one line naming the input (or `where`, e.g. the file it came from)."""
    spec = {i.name: i for i in self.input_spec()}
    unknown = sorted(set(inputs) - set(spec))
    if unknown:
      raise ValueError(f"input {unknown[0]!r} is not accepted by the {self.name} family; it takes: "
                       f"{', '.join(spec)}")
    missing = [n for n, i in spec.items() if i.required and inputs.get(n) is None]
    if missing:
      raise ValueError(f"input {missing[0]!r} is required: {spec[missing[0]].doc}")
    return {k: np.asarray(v) for k, v in inputs.items() if v is not None}

  def eval_inputs(self, batch: dict) -> dict:
    """The inputs of the evaluation protocol's generation setting, from a data batch."""
    raise NotImplementedError

  def eval_protocol(self) -> dict[str, str]:
    return {}

  def eval_settings(self, workdir: str) -> dict[str, Any]:
    """Named evaluation settings: `{name: family configured for it, or a string saying why it cannot
    run}`; the harness writes each into `eval/<step>/<name>/` and a summary `eval/<step>/metrics.json`.
    `{}` (the default): the one setting of `eval_inputs`, straight in `eval/<step>/`."""
    return {}

  def diversity_inputs(self, batch: dict) -> dict:
    """Inputs for the diversity score (multimodal families): what varies comes from the RNG."""
    return self.eval_inputs(batch)

  def photo_inputs(self) -> set[str]:
    """The names of `input_spec`'s image inputs (style photos)."""
    return {i.name for i in self.input_spec() if i.kind == "image"}

  def cross_inputs(self, variables: dict, inputs: dict, style_inputs: dict) -> dict:
    """The style metric's cross test (traced under jit): `inputs` (the eval inputs of image A) with the
    style of `style_inputs` (image B's). Default: B's style photos (`photo_inputs`) replace A's (or
    are added, where A has none)."""
    return {**inputs, **{k: style_inputs[k] for k in self.photo_inputs() & set(style_inputs)}}

  def example_inputs(self, batch: dict) -> dict:
    """Every input of `input_spec()`, filled from a data batch (or zeros): what the contract test
    passes to `generate`, one optional input at a time."""
    return self.eval_inputs(batch)

  # ----- tests -----
  def example_batches(self, n: int) -> list[dict]:
    """`n` global training batches of the config's shapes (generated data, `spade_jax.data.fake`)."""
    from spade_jax.data.fake import FakeIterator
    it = FakeIterator(self.config)
    return [next(it) for _ in range(n)]
