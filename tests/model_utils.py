"""Test helpers: configs (`load_config`, `tiny_config`) and model variables without compiling the
initialisers (XLA:CPU takes ~25 s). Import from here, not from `conftest` (tests/data has its own
conftest, and both are importable only under the name `conftest`)."""

import importlib
import importlib.util
import os
import pathlib

import jax
import numpy as np

from spade_jax.configs.spade.default import get_config

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DIR = pathlib.Path(os.environ.get("SPADE_SHARED_DIR", REPO.parent / "shared"))
PARITY_DIR = pathlib.Path(os.environ.get("SPADE_PARITY_DIR", SHARED_DIR / "parity"))


def missing(what: str, path) -> str:
  """The skip reason for test inputs that live in ../shared (absent from a user's clone)."""
  return (f"{what} not found at {path}: this checkout has no ../shared beside it; set SPADE_PARITY_DIR to "
          f"the parity fixtures (or SPADE_SHARED_DIR to the shared folder) to run it")


def parity_dir(system: str = "") -> pathlib.Path:
  """`$SPADE_PARITY_DIR[/<system>]` (default `../shared/parity`)."""
  return PARITY_DIR / system if system else PARITY_DIR


def parity_fixtures(system: str = "") -> list[pathlib.Path]:
  """Every `<name>.json` + `<name>.npz` pair of a system's fixture folder (stems), none named in code."""
  d = parity_dir(system)
  return sorted(p.with_suffix("") for p in d.glob("*.json") if p.with_suffix(".npz").exists()) if d.is_dir() else []


def find_fixture(needed_keys, system: str = ""):
  """The first fixture (by name) of a system's folder whose npz holds all of `needed_keys` (not named in
  code: tests that need *a* model fixture take whichever exists); skips with the reason otherwise."""
  import pytest
  stems = parity_fixtures(system)
  if not stems:
    pytest.skip(missing(f"{system or 'SPADE'} parity fixtures", parity_dir(system)))
  for stem in stems:
    with np.load(stem.with_suffix(".npz")) as f:
      if all(k in f.files for k in needed_keys):
        return stem
  pytest.skip(f"no fixture in {parity_dir(system)} holds {', '.join(needed_keys)}")


def parity_params(system: str = "", argname: str = "stem"):
  """`pytest.mark.parametrize(argname, fixtures)` with the fixture names as ids; one skipped case, with
  the reason, when the folder is absent or empty."""
  import pytest
  stems = parity_fixtures(system)
  if not stems:
    d = parity_dir(system)
    reason = missing(f"{system or 'SPADE'} parity fixtures", d) if not d.is_dir() else \
        f"no <name>.json + <name>.npz parity fixtures in {d}"
    return pytest.mark.parametrize(argname, [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                                   ids=["no-fixtures"])
  return pytest.mark.parametrize(argname, stems, ids=[p.name for p in stems])


def load_config(name: str):
  """`configs/<family>/<name>.py`'s get_config(), e.g. load_config("spade/tiny")."""
  return importlib.import_module(f"spade_jax.configs.{name.replace('/', '.')}").get_config()


def set_dotted(config, overrides: dict):
  """Sets `{"a.b.c": value}` fields in place (like `--config.a.b.c=value`); returns the config."""
  for k, v in overrides.items():
    node = config
    *parents, leaf = k.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = v
  return config


def tiny_config(**overrides):
  """A tiny SPADE config (label_nc 5, crop 64, ngf = ndf = 4, nhidden 8, z 16, no VGG); overrides by
  dotted name, e.g. tiny_config(**{"model.use_vae": True})."""
  c = get_config()
  c.data.label_nc = 5
  c.data.crop_size = 64
  c.model.ngf = 4
  c.model.ndf = 4
  c.model.nhidden = 8
  c.model.z_dim = 16
  c.train.no_vgg_loss = True
  for key, value in overrides.items():
    group, _, field = key.rpartition(".")
    (c[group] if group else c)[field] = value
  return c


def random_variables(model, seed: int = 0, scale: float = 0.05) -> dict:
  """Host-filled variables with the structure of `model.init`: N(0, scale²) params, BN mean 0 /
  var 1, unit spectral-norm vectors. For tests of code around the model, not of its init."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0)))

  def fill(path, s):
    name = path[-1].key
    if name == "var":
      return np.ones(s.shape, np.float32)
    if name == "mean":
      return np.zeros(s.shape, np.float32)
    x = rng.standard_normal(s.shape).astype(np.float32)
    if name in ("u", "v"):
      return x / np.linalg.norm(x)
    return x * scale
  return jax.tree_util.tree_map_with_path(fill, shapes)


def load_script(path):
  """Imports a script (bench/, scripts/) as a module. Scripts define absl flags at import; flags of the
  same names that another script loaded earlier in this process defined are removed first (each test
  process may load several scripts that all define e.g. --config)."""
  import ast
  from absl import flags
  path = pathlib.Path(path)
  names = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("DEFINE")
        and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
      names.add(node.args[0].value)
  for name in names & set(flags.FLAGS):
    delattr(flags.FLAGS, name)
  spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
