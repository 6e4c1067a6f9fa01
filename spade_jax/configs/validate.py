"""Checks a resolved config before anything slow runs (data preparation, compilation): unknown fields
with the nearest known names, types against the family's defaults, ranges and option combinations
(the run fields here, the family's own in `Family.check_config`). All problems of a config are
reported at once, as one `ConfigError` line."""

from __future__ import annotations

import difflib

from spade_jax import models
from spade_jax.configs import common
from spade_jax.errors import ConfigError
from spade_jax.models.base import flat_config


def _known_fields(family_cls) -> set[str]:
  from spade_jax.data.fields import OPTIONAL_FIELDS
  known = set(flat_config(family_cls.default_config().to_dict()))
  known |= {path for path, _, _ in common.FIELDS}
  known |= {f"data.{name}" for name, _ in OPTIONAL_FIELDS}
  known |= set(family_cls.optional_config_fields)
  return known


def _type_problem(name: str, value, default) -> str:
  if default is None or value is None:
    return ""
  if isinstance(default, bool) or isinstance(value, bool):
    ok = isinstance(value, bool) and isinstance(default, bool)
  elif isinstance(default, (int, float)):
    ok = isinstance(value, (int, float)) and (isinstance(default, float) or isinstance(value, int))
  else:
    ok = isinstance(value, type(default))
  return "" if ok else f"{name}={value!r} should be a {type(default).__name__}"


def run_field_problems(config) -> list[str]:
  """The run fields of `configs/common.py`: ranges."""
  out = []
  positive = ("total_steps", "batch_size", "log_every_steps", "checkpoint_every_steps", "keep_checkpoints")
  for name in positive:
    if name in config and int(config[name]) <= 0:
      out.append(f"{name}={config[name]} must be positive")
  for name in ("image_every_steps", "num_sample_images"):
    if name in config and int(config[name]) < 0:
      out.append(f"{name}={config[name]} must be ≥ 0")
  if config.get("dtype", "float32") not in ("float32", "bfloat16"):
    out.append(f"dtype={config.dtype!r}: expected float32 or bfloat16")
  if config.get("parallel", "mesh") not in ("mesh", "pmap"):
    out.append(f"parallel={config.parallel!r}: expected mesh or pmap")
  return out


def problems(config, training: bool = True) -> list[str]:
  """Every problem of `config` (empty when it is fine); `training=False` skips what only training needs
  (e.g. the VGG loss's weights file)."""
  try:
    cls = models.get(models.family_name(config))
  except ValueError as e:
    return [str(e)]
  known = _known_fields(cls)
  reference = flat_config(cls.default_config().to_dict())
  ref_run = {path: default for path, default, _ in common.FIELDS}
  out = []
  for name, value in flat_config(config.to_dict()).items():
    if name not in known:
      near = difflib.get_close_matches(name, sorted(known), n=2)
      out.append(f"unknown field {name}" + (f" (did you mean {' or '.join(near)}?)" if near else ""))
      continue
    p = _type_problem(name, value, reference.get(name, ref_run.get(name)))
    if p:
      out.append(p)
  if out:  # ranges make sense only on well-formed fields
    return out
  return run_field_problems(config) + list(cls.check_config(config, training))


def check(config, training: bool = True) -> None:
  """Raises ConfigError naming every problem of `config` (see `problems`)."""
  found = problems(config, training)
  if found:
    raise ConfigError("config: " + "; ".join(found))
