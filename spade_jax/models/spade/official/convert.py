"""Official PyTorch state dicts → our Flax variables, for G, D and E.

Our module names follow the official ones, so a key maps mechanically:
  `up_0.norm_0.mlp_shared.0.weight`            → params/up_0/norm_0/mlp_shared/kernel (OIHW → HWIO)
  `up_0.conv_0.weight_orig` / `.weight_u/_v`   → params/up_0/conv_0/kernel, batch_stats/up_0/conv_0/{u,v}
  `up_0.norm_0.param_free_norm.running_mean`   → batch_stats/up_0/norm_0/param_free_norm/mean
  `discriminator_1.model2.0.0.weight_orig`     → params/discriminator_1/model2/conv/kernel
  `layer3.0.weight_orig` (encoder)             → params/layer3/conv/kernel
`num_batches_tracked` is not modelled (with momentum 0.1 it never affects the computation) and is
skipped. Loading is strict: every variable of the model must be filled, every key used, every shape
right; otherwise one error lists what is wrong.
"""

from __future__ import annotations

import re
from typing import Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from spade_jax.io.state_dict import load_file as load_state_dict_file  # noqa: F401  (re-exported)

_LEAF = {"weight": ("params", "kernel"), "weight_orig": ("params", "kernel"), "bias": ("params", "bias"),
         "weight_u": ("batch_stats", "u"), "weight_v": ("batch_stats", "v"),
         "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}
SKIPPED_LEAVES = ("num_batches_tracked",)

# Sequential indices of the official non-SPADE norm layers: (conv, norm) pairs.
_MODULE_RULES = [
    (re.compile(r"^(discriminator_\d+)\.(model\d+)\.0\.0$"), r"\1.\2.conv"),
    (re.compile(r"^(discriminator_\d+)\.(model\d+)\.0\.1$"), r"\1.\2.norm"),
    (re.compile(r"^(discriminator_\d+)\.(model\d+)\.0$"), r"\1.\2.conv"),
    (re.compile(r"^(layer\d+)\.0$"), r"\1.conv"),
    (re.compile(r"^(layer\d+)\.1$"), r"\1.norm"),
    (re.compile(r"^((?:.*\.)?mlp_shared)\.0$"), r"\1"),
]


def torch_key_to_path(key: str) -> Optional[tuple[str, tuple[str, ...]]]:
  """Official key → (collection, path), or None for keys that are not modelled."""
  module, _, leaf = key.rpartition(".")
  if leaf in SKIPPED_LEAVES:
    return None
  if leaf not in _LEAF:
    raise ValueError(f"unexpected official key {key!r} (unknown parameter name {leaf!r})")
  collection, name = _LEAF[leaf]
  for pattern, repl in _MODULE_RULES:
    if pattern.match(module):
      module = pattern.sub(repl, module)
      break
  parts = tuple(module.split(".")) if module else ()
  if parts and parts[-1] == "norm" and collection == "params":
    # affine BatchNorm of a non-SPADE norm layer: its scale/bias live on the NormLayer itself.
    parts, name = parts[:-1], {"kernel": "scale", "bias": "bias"}[name]
  return collection, parts + (name,)


def _to_flax_array(value: np.ndarray, name: str) -> np.ndarray:
  a = np.asarray(value)
  if a.dtype != np.float32 and np.issubdtype(a.dtype, np.floating):
    a = a.astype(np.float32)
  if name == "kernel":
    if a.ndim == 4:
      return a.transpose(2, 3, 1, 0)  # OIHW → HWIO
    if a.ndim == 2:
      return a.T  # [out, in] → [in, out]
  return a


def state_dict_to_variables(state: Mapping[str, np.ndarray], template: Optional[dict] = None,
                            net: str = "net") -> dict:
  """Official state dict → Flax variables `{"params": ..., "batch_stats": ...}`.

  With `template` (the model's own variables, e.g. from `init`) the result is checked strictly against
  it: same keys, same shapes; the error names every missing, unexpected and mismatched entry.
  """
  flat = {}
  for key, value in state.items():
    mapped = torch_key_to_path(key)
    if mapped is None:
      continue
    collection, path = mapped
    flat[(collection,) + path] = (key, _to_flax_array(value, path[-1]))
  if template is not None:
    want = traverse_util.flatten_dict(jax.tree_util.tree_map(np.shape, template,
                                                             is_leaf=lambda x: hasattr(x, "shape")))
    problems = []
    for path, shape in want.items():
      if path not in flat:
        problems.append(f"missing {'/'.join(path)} {tuple(shape)}")
      elif flat[path][1].shape != tuple(shape):
        problems.append(f"{flat[path][0]}: shape {flat[path][1].shape} (as {'/'.join(path)}), "
                        f"model expects {tuple(shape)}")
    problems += [f"unexpected key {k!r}" for p, (k, _) in flat.items() if p not in want]
    if problems:
      shown = "; ".join(problems[:12]) + (f"; ... {len(problems) - 12} more" if len(problems) > 12 else "")
      raise ValueError(f"official {net} state dict does not match the configured model "
                       f"({len(problems)} problems; are ngf/ndf, label_nc, contain_dontcare_label, "
                       f"no_instance, norm_{net[:1]}, num_upsampling_layers, use_vae the checkpoint's?): {shown}")
  return traverse_util.unflatten_dict({p: jnp.asarray(v) for p, (_, v) in flat.items()})
