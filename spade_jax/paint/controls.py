"""The page's controls of a model, derived from its family's `input_spec()`, and the query
parameters of `/api/generate` that set them.

Which input kind becomes which control:

  label      the drawing (class ids) — always; instance ids are the label map itself (class
             boundaries as instance edges, `eval.py --instance-from-label`)
  image      a style photo (`POST /api/style` → token; query `style=TOKEN`, or `<input name>=TOKEN`)
  vector, codes, map
             never given: the family draws them from the seed's key (multimodal families: query
             `seed=N`, the variations grid); a *required* one makes the model unusable here
  int        per-class integers `[B, K]` (K = number of ids): a number per class
             (query `<name>=v0,v1,...` or sparse `<name>=id:v,id:v`)

A family refines its controls with an optional `paint_controls()` → `{input name: {"type": ...,
"min": .., "max": .., "default": .., "label": ..}}`, where type is one of
  "per_class"  a number per class (e.g. pix2pixHD's cluster per class),
  "checkbox"   a checkbox per class, values 0/1 (e.g. SEAN's classes that take the style photo's
               code; unchecked ones use the mean code),
  "slider"     one integer in [min, max], passed as int32 `[B]` (e.g. SinGAN's start scale).
A required input that no control can fill makes the model unusable here (`unsupported`).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

MAX_SEED = 2**31 - 1
FILLED = ("label", "instance")  # from the drawing
TYPES = ("per_class", "checkbox", "slider")


def _param(control: dict) -> str:
  return "style" if control["type"] == "style" and control.get("first") else control["input"]


def for_family(family, n_ids: int, variations: int) -> list[dict]:
  """JSON-ready control descriptions, in page order."""
  out = []
  if family.multimodal:
    out.append({"type": "seed", "param": "seed", "max": MAX_SEED})
    if variations > 0:
      out.append({"type": "variations", "count": int(variations)})
  hook = getattr(family, "paint_controls", None)
  extra = dict(hook()) if hook is not None else {}
  first_style = True
  for i in family.input_spec():
    if i.kind == "image":
      c = {"type": "style", "input": i.name, "required": i.required, "doc": i.doc, "first": first_style}
      first_style = False
    elif i.kind == "int":
      opts = dict(extra.get(i.name, {}))
      kind = opts.pop("type", "per_class")
      if kind not in TYPES:
        raise ValueError(f"{family.name}.paint_controls()[{i.name!r}]: type {kind!r} is not one of {TYPES}")
      c = {"type": kind, "input": i.name, "required": i.required, "doc": i.doc,
           "min": int(opts.pop("min", 0)), "max": opts.pop("max", 1 if kind == "checkbox" else None),
           "default": int(opts.pop("default", 0)), "label": str(opts.pop("label", i.name)),
           "classes": n_ids if kind != "slider" else None, **opts}
    else:
      continue
    c["param"] = _param(c)
    out.append(c)
  return out


def unsupported(family) -> list[str]:
  """Required inputs of the family that the page cannot give (empty when it can drive the model)."""
  return [f"{i.name} ({i.kind})" for i in family.input_spec()
          if i.required and i.kind not in FILLED + ("image", "int")]


def _int(value: str, name: str, lo: int, hi: Optional[int]) -> int:
  try:
    v = int(value)
  except ValueError:
    raise ValueError(f"{name}: expected an integer, got {value!r}") from None
  if v < lo or (hi is not None and v > hi):
    raise ValueError(f"{name}: {v} is outside {lo}..{hi if hi is not None else '∞'}")
  return v


def _per_class(value: str, c: dict) -> np.ndarray:
  k, name = int(c["classes"]), c["param"]
  vals = np.full((k,), c["default"], np.int32)
  items = [s for s in value.split(",") if s.strip()]
  if any(":" in s for s in items):
    for s in items:
      cls, _, v = s.partition(":")
      vals[_int(cls, f"{name} (class id)", 0, k - 1)] = _int(v, name, c["min"], c["max"])
  else:
    if len(items) != k:
      raise ValueError(f"{name}: expected {k} comma-separated values (one per class) or id:value pairs, "
                       f"got {len(items)}")
    vals[:] = [_int(s, name, c["min"], c["max"]) for s in items]
  return vals[None]


def parse(controls: list[dict], query: dict[str, str], styles) -> tuple[Optional[int], dict, dict]:
  """Query parameters → (seed or None, extra inputs `{name: array}`, the parameters as given).

  `styles(token, param)` returns the float style photo `[1, H, W, 3]` for a token."""
  by_param = {c["param"]: c for c in controls if "param" in c}
  unknown = sorted(set(query) - set(by_param))
  if unknown:
    known = ", ".join(by_param) or "none"
    raise ValueError(f"unknown parameter {unknown[0]!r} for this model (it takes: {known})")
  seed, inputs, given = None, {}, {}
  for param, value in query.items():
    c = by_param[param]
    given[param] = value
    if c["type"] == "seed":
      seed = _int(value, "seed", 0, MAX_SEED)
    elif c["type"] == "style":
      inputs[c["input"]] = styles(value, param)
    elif c["type"] == "slider":
      inputs[c["input"]] = np.asarray([_int(value, param, c["min"], c["max"])], np.int32)
    else:
      inputs[c["input"]] = _per_class(value, c)
  for c in controls:
    if c.get("required") and c.get("input") not in inputs:
      if c["type"] == "style":
        raise ValueError(f"{c['input']}: this model needs a style photo ({c['doc']}); upload one "
                         f"(POST /api/style) and pass {c['param']}=TOKEN")
      inputs[c["input"]] = default_value(c)
  return seed, inputs, given


def default_value(c: dict) -> np.ndarray:
  """The value of a per-class / slider control nobody set (its default)."""
  if c["type"] == "slider":
    return np.asarray([c["default"]], np.int32)
  return np.full((1, int(c["classes"])), c["default"], np.int32)


def optional_inputs(controls: list[dict]) -> list[dict]:
  """Controls whose input may be present or absent: each doubles the compiled calls."""
  return [c for c in controls if "input" in c and not c.get("required")]
