"""PyTorch state dicts → Flax variables, strictly: the generic part of every family's official converter.

A family supplies `rule(key) -> Mapped | None` (None: the key is not modelled, e.g. `num_batches_tracked`);
`to_variables` applies it to every key, checks the result against a template of the model's variables and
raises ONE `ValueError` that lists every missing, unexpected and mis-shaped entry.

Layout helpers: `conv_kernel` (Conv2d OIHW → HWIO), `conv_transpose_kernel` (ConvTranspose2d IOHW → the HWIO
kernel of the equivalent convolution over the stride-dilated input, spatially flipped), `dense_kernel`
([out, in] → [in, out]).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util


def conv_kernel(w: np.ndarray) -> np.ndarray:
  """torch Conv2d weight `[out, in, kh, kw]` → HWIO."""
  return np.asarray(w).transpose(2, 3, 1, 0)


def conv_transpose_kernel(w: np.ndarray) -> np.ndarray:
  """torch ConvTranspose2d weight `[in, out, kh, kw]` → HWIO of the convolution over the dilated input
  (`lax.conv_general_dilated(..., lhs_dilation=stride)`): `K[u, v, i, o] = W[i, o, kh-1-u, kw-1-v]`."""
  return np.asarray(w).transpose(2, 3, 0, 1)[::-1, ::-1]


def dense_kernel(w: np.ndarray) -> np.ndarray:
  return np.asarray(w).T


def identity(a: np.ndarray) -> np.ndarray:
  return np.asarray(a)


@dataclasses.dataclass(frozen=True)
class Mapped:
  """Where one official tensor goes: a path in the Flax variables (collection first) and its layout."""

  path: tuple[str, ...]
  transform: Callable[[np.ndarray], np.ndarray] = identity


def _float32(a: np.ndarray) -> np.ndarray:
  a = np.ascontiguousarray(a)
  return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) and a.dtype != np.float32 else a


def to_variables(state: Mapping[str, np.ndarray], rule: Callable[[str], Optional[Mapped]],
                 template: Optional[dict] = None, *, what: str = "state dict", hint: str = "") -> dict:
  """`{official key: array}` → `{"params": ..., "batch_stats": ...}` (nested dicts of jnp arrays).

  With `template` (the model's variables or their `jax.eval_shape`) the result must have exactly its
  leaves and shapes; otherwise one ValueError names every problem (`hint` is appended to it). A rule that
  raises ValueError for a key counts as an unexpected key with that reason."""
  flat, problems = {}, []
  for key, value in state.items():
    try:
      mapped = rule(key)
    except ValueError as e:
      problems.append(f"unexpected key {key!r} ({e})")
      continue
    if mapped is None:
      continue
    if mapped.path in flat:
      problems.append(f"{key!r} and {flat[mapped.path][0]!r} both map to {'/'.join(mapped.path)}")
      continue
    flat[mapped.path] = (key, _float32(mapped.transform(np.asarray(value))))
  if template is not None:
    want = traverse_util.flatten_dict(jax.tree_util.tree_map(np.shape, dict(template),
                                                             is_leaf=lambda x: hasattr(x, "shape")))
    want = {p: s for p, s in want.items() if not (isinstance(s, dict) and not s)}
    for path, shape in sorted(want.items()):
      if path not in flat:
        problems.append(f"missing {'/'.join(path)} {tuple(shape)}")
      elif flat[path][1].shape != tuple(shape):
        problems.append(f"{flat[path][0]}: shape {flat[path][1].shape} (as {'/'.join(path)}), "
                        f"model expects {tuple(shape)}")
    problems += [f"unexpected key {k!r} (no {'/'.join(p)} in the model)" for p, (k, _) in flat.items()
                 if p not in want]
  if problems:
    shown = "; ".join(problems[:16]) + (f"; ... {len(problems) - 16} more" if len(problems) > 16 else "")
    raise ValueError(f"{what} does not match the configured model ({len(problems)} problem"
                     f"{'s' if len(problems) > 1 else ''}{'; ' + hint if hint else ''}): {shown}")
  out = traverse_util.unflatten_dict({p: jnp.asarray(v) for p, (_, v) in flat.items()})
  for collection in ("params", "batch_stats"):
    if template is not None and collection in template:
      out.setdefault(collection, {})
  return out


def load_file(path: str) -> dict[str, np.ndarray]:
  """`.npz` / `.pth` (read without torch; see `torch_files`) → flat dict of numpy arrays."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"official checkpoint not found: {path}")
  if path.endswith(".npz"):
    with np.load(path) as f:
      return {k: f[k] for k in f.files}
  try:
    from spade_jax.io.torch_files import load_state_dict
  except ImportError as e:  # pragma: no cover - torch_files ships with the package
    raise ImportError(f"cannot read {path}: {e}") from None
  return load_state_dict(path)
