"""Model families: one folder per system (`spade_jax/models/<family>/`), chosen by `config.family`.

    family = models.build(config)                 # an instance of the family's `Family` subclass
    cls = models.get("spade")                     # the class, imported on demand

A family package registers its class on import (`@register("name")` in its `__init__.py`, as
score_sde's `register_model`); `get` imports `spade_jax.models.<name>` the first time the name is
asked for (as big_vision's `import_module(f"big_vision.models.{config.model_name}")`). Importing
this module imports no JAX, so entry points can parse flags first.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Optional

_REGISTRY: dict[str, type] = {}


def register(name: str):
  """Class decorator: makes a `Family` subclass available as `config.family = name`."""
  def deco(cls):
    if name in _REGISTRY and _REGISTRY[name] is not cls:
      raise ValueError(f"model family {name!r} is registered twice ({_REGISTRY[name]} and {cls})")
    cls.name = name
    _REGISTRY[name] = cls
    return cls
  return deco


def available() -> list[str]:
  """The family packages that ship with the library (their folders; nothing is imported)."""
  here = __path__  # noqa: F821 - the package's own search path
  return sorted(m.name for m in pkgutil.iter_modules(here) if m.ispkg)


def family_name(config) -> str:
  """`config.family`, or the default of `spade_jax/configs/common.py` for configs without one."""
  from spade_jax.configs.common import DEFAULT_FAMILY
  name = config.get("family", DEFAULT_FAMILY) if hasattr(config, "get") else DEFAULT_FAMILY
  return name or DEFAULT_FAMILY


def get(name: str) -> type:
  """The `Family` class registered as `name` (importing its package on first use)."""
  if name not in _REGISTRY:
    known = available()
    if name not in known:
      close = difflib.get_close_matches(str(name), known, n=1)
      hint = f" (did you mean {close[0]!r}?)" if close else ""
      raise ValueError(f"config.family={name!r} is not a model family{hint}; available: {', '.join(known)}")
    importlib.import_module(f"{__name__}.{name}")
    if name not in _REGISTRY:
      raise ImportError(f"spade_jax.models.{name} did not register a family named {name!r}")
  return _REGISTRY[name]


def build(config, axis_name: Optional[str] = None):
  """The family instance `config.family` names, built from `config`."""
  return get(family_name(config))(config, axis_name=axis_name)
