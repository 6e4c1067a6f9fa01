"""The calls the page can make, compiled once: one render per input combination, and a fixed batch
of seeds for the variations grid.

A render is what `eval.py --mode synthesize --seed S --instance-from-label [--style PHOTO]` computes
for the same label PNG: the same `synthesize.generate`, the same key for seed S (the CLI's first
sample), the same uint8 conversion — so `params.json` of an export reproduces the result.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import itertools
import threading
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.evaluate import synthesize as syn
from spade_jax.paint import classes as classes_lib
from spade_jax.paint import codec
from spade_jax.paint import controls as controls_lib

MAX_STYLES = 32


def seed_key(seed: int) -> jax.Array:
  """The key `eval.py --mode synthesize --seed S` gives its first sample of the first label file."""
  return jax.random.split(jax.random.fold_in(jax.random.key(int(seed)), 0), 1)[0]


@functools.partial(jax.jit, static_argnums=(0,))
def _variations(family, variables, inputs, keys):
  """[N] keys → [N, B, H, W, 3]: one render per key (each equal to a single render with that key)."""
  return jax.vmap(lambda k: family.generate(variables, inputs, k))(keys)


def _arrays(checked: dict) -> dict:
  return {k: jnp.asarray(v, jnp.int32 if np.issubdtype(v.dtype, np.integer) else jnp.float32)
          for k, v in checked.items()}


class Engine:
  """A family + its variables, ready for the page (see the module docstring)."""

  def __init__(self, family, variables: dict, *, variations: int = 6):
    missing = controls_lib.unsupported(family)
    if missing:
      raise ValueError(f"the {family.name} family needs inputs the paint app cannot give: "
                       f"{', '.join(missing)}")
    self.family = family
    self.variables = jax.device_put(variables)
    self.spec = {i.name: i for i in family.input_spec()}
    if "label" not in self.spec and getattr(family, "paint_classes", None) is None:
      raise ValueError(f"the {family.name} family takes no label map (its inputs: {', '.join(self.spec)})")
    self.classes = classes_lib.class_table(family)
    self.colours = classes_lib.colour_array(self.classes)
    self.n_ids = len(self.classes)
    if self.n_ids > 256:
      raise ValueError(f"the paint app draws up to 256 class ids (8-bit maps); this model has {self.n_ids}")
    d = family.config.data
    self.dontcare_id = int(d.label_nc)  # what id PNGs' 255 means (as label files are read)
    self.export_dontcare = self.dontcare_id if d.get("contain_dontcare_label", False) else None
    self.hw = tuple(int(v) for v in family.image_hw)
    self.num_variations = int(variations) if family.multimodal else 0
    self.controls = controls_lib.for_family(family, self.n_ids, self.num_variations)
    self._styles: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
    self._lock = threading.Lock()

  # ----- styles -----
  def add_style(self, data: bytes, what: str = "style photo") -> str:
    """A photo → its token (the photo at the model's size, kept on the server)."""
    if not any(c["type"] == "style" for c in self.controls):
      raise ValueError(f"{what}: this model has no style input (it takes: {', '.join(self.spec)}); "
                       "a style photo needs a model with a style encoder")
    photo = codec.read_photo(data, what, self.hw)
    token = hashlib.sha256(photo.tobytes()).hexdigest()[:16]
    with self._lock:
      self._styles[token] = photo
      self._styles.move_to_end(token)
      while len(self._styles) > MAX_STYLES:
        self._styles.popitem(last=False)
    return token

  def style_photo(self, token: str, param: str = "style") -> np.ndarray:
    """uint8 [H, W, 3] of a token."""
    with self._lock:
      photo = self._styles.get(token)
    if photo is None:
      raise ValueError(f"{param}: unknown style token {token!r} (the server keeps the last {MAX_STYLES}; "
                       "upload the photo again: POST /api/style)")
    return photo

  def _style_input(self, token: str, param: str) -> np.ndarray:
    # as `eval.py --style` reads the photo (synthesis_cli._read_style) once it has the model's size
    return self.style_photo(token, param).astype(np.float32)[None] / 127.5 - 1.0

  # ----- inputs -----
  def read_ids(self, data: bytes, what: str = "label PNG") -> np.ndarray:
    return codec.read_ids(data, what, self.dontcare_id)

  def read_labels(self, data: bytes, what: str = "upload") -> tuple[np.ndarray, str]:
    ids, fmt = codec.read_labels(data, what, self.colours, self.dontcare_id)
    self.check_ids(ids, what)
    return ids, fmt

  def check_ids(self, ids: np.ndarray, what: str) -> None:
    self.family.check_inputs(self._base(ids), where=what)

  def _base(self, ids: np.ndarray) -> dict:
    lab = np.asarray(ids, np.int32)[None]
    out = {"label": lab}
    if "instance" in self.spec:
      out["instance"] = lab
    return out

  def prepare(self, ids: np.ndarray, query: dict, what: str = "label PNG") -> dict:
    """A request's checked inputs: {"seed", "inputs", "params" (as given)}; ValueError when bad."""
    seed, extra, given = controls_lib.parse(self.controls, query, self._style_input)
    if self.family.multimodal and seed is None:
      seed = 0
    inputs = self.family.check_inputs({**self._base(ids), **extra}, where=what)
    return {"seed": seed, "inputs": inputs, "params": given}

  # ----- calls (the worker thread runs these) -----
  def run_render(self, job: dict) -> dict:
    """→ {"image": uint8 [H, W, 3], "seed", "params", "ms"} (ms: the model call alone)."""
    seed = job["seed"]
    t = time.perf_counter()
    fake = syn.generate(self.family, self.variables, job["inputs"],
                        rng=seed_key(seed) if seed is not None else None)
    image = syn.to_uint8(np.asarray(fake))[0]
    return {"image": image, "seed": seed, "params": job["params"], "ms": (time.perf_counter() - t) * 1e3}

  def variation_seeds(self, seed: int) -> list[int]:
    return [(int(seed) + 1 + k) % (controls_lib.MAX_SEED + 1) for k in range(self.num_variations)]

  def run_variations(self, job: dict) -> dict:
    """The grid: seeds seed+1 .. seed+N (each image equals a render with its seed)."""
    if not self.num_variations:
      raise ValueError(f"variations need a multimodal model; this {self.family.name} model is deterministic")
    seeds = self.variation_seeds(job["seed"])
    keys = jnp.stack([seed_key(s) for s in seeds])
    t = time.perf_counter()
    fakes = _variations(self.family, self.variables, _arrays(job["inputs"]), keys)
    images = syn.to_uint8(np.asarray(fakes))[:, 0]
    return {"images": list(images), "seeds": seeds, "params": job["params"],
            "ms": (time.perf_counter() - t) * 1e3}

  def render(self, ids: np.ndarray, query: dict, what: str = "label PNG") -> dict:
    return self.run_render(self.prepare(ids, query, what))

  def variations(self, ids: np.ndarray, query: dict, what: str = "label PNG") -> dict:
    return self.run_variations(self.prepare(ids, query, what))

  # ----- compilation -----
  def combinations(self, style_token: str) -> list[dict]:
    """One query per input combination the page can send (each optional input present or absent)."""
    optional = controls_lib.optional_inputs(self.controls)

    def value(c):
      if c["type"] == "style":
        return style_token
      return str(c["default"]) if c["type"] == "slider" else f"0:{c['default']}"
    return [{c["param"]: value(c) for c, on in zip(optional, present) if on}
            for present in itertools.product((False, True), repeat=len(optional))]

  def warmup(self, log: Callable[[str], None] = print) -> float:
    """Compiles every call the page can make (zeros label map, a grey style photo); returns seconds."""
    t0 = time.perf_counter()
    ids = np.zeros(self.hw, np.int32)
    token = "warm-up"
    with self._lock:
      self._styles[token] = np.full(self.hw + (3,), 128, np.uint8)
    jobs = [(kind, q) for q in self.combinations(token)
            for kind in (("render", "variations") if self.num_variations else ("render",))]
    try:
      for n, (kind, q) in enumerate(jobs, 1):
        t = time.perf_counter()
        (self.render if kind == "render" else self.variations)(ids, dict(q), "warm-up")
        what = kind + (f" x{self.num_variations}" if kind == "variations" else "")
        log(f"paint: compiled {n}/{len(jobs)}: {what} with {', '.join(['label'] + list(q))} "
            f"in {time.perf_counter() - t:.1f} s")
    finally:
      with self._lock:
        self._styles.pop(token, None)
    return time.perf_counter() - t0
