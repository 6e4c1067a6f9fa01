"""Config files: `get_config()` modules, loaded by path (what `--config FILE` does), and the built-in
configs by name: `synthetic`, `spade/ade20k`, `pix2pixhd/cityscapes`, … (`resolve`). The built-in
configs are the files of this package (`spade_jax/configs/<family>/<name>.py`; the repository's
`configs/` is a link to them), so a name works from an installed package too."""

from __future__ import annotations

import importlib.util
import os

import ml_collections


CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))


def builtin_names() -> list[str]:
  """`<family>/<name>` of every built-in config."""
  out = []
  for family in sorted(os.listdir(CONFIG_DIR)):
    folder = os.path.join(CONFIG_DIR, family)
    if os.path.isfile(os.path.join(folder, "__init__.py")):
      out += [f"{family}/{f[:-3]}" for f in sorted(os.listdir(folder)) if f.endswith(".py") and f != "__init__.py"]
  return out


def resolve(name: str) -> str:
  """The file of `name`: an existing path as it is; else a built-in config — `<family>/<name>`
  (`.py` optional), a bare `<name>` of the default family, or `configs/<family>/<name>.py` (the
  repository path) from anywhere. Unknown names are returned unchanged (the caller reports them)."""
  if os.path.isfile(name):
    return name
  from spade_jax.configs.common import DEFAULT_FAMILY
  stem = name[len("configs/"):] if name.startswith("configs/") else name
  stem = stem[:-3] if stem.endswith(".py") else stem
  for candidate in (stem, f"{DEFAULT_FAMILY}/{stem}"):
    path = os.path.join(CONFIG_DIR, candidate + ".py")
    if "/" in candidate and os.path.isfile(path):
      return path
  return name


def load_file(path: str) -> ml_collections.ConfigDict:
  """`path`'s `get_config()` (a `configs/<family>/<name>.py`-style file)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such config file")
  name = "spade_jax_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"{path}: a config file defines get_config() (see spade_jax/configs/)")
  return module.get_config()
