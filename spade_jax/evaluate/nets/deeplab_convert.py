"""kazuto1011/deeplab-pytorch DeepLabV2 weights → `spade_jax.evaluate.nets.deeplab.DeepLabV2` variables.

The checkpoint used for the SPADE paper's COCO-Stuff mIoU (NVlabs/SPADE#39) is
`deeplabv2_resnet101_msc-cocostuff164k-100000.pth` (182 classes), the state dict of
`MSC(DeepLabV2(n_blocks=[3, 4, 23, 3], atrous_rates=[6, 12, 18, 24]), scales=[0.5, 0.75])`. Nothing
is downloaded here; get it from `DOWNLOAD_URL`.

Keys map mechanically (our module names are the original's):
  `base.layer1.conv1.conv.weight`                 → params/base/layer1/conv1/conv/kernel (OIHW → HWIO)
  `base.layer2.block1.reduce.bn.weight` / `.bias` → params/base/layer2/block1/reduce/bn/{scale,bias}
  `base.layer2.block1.reduce.bn.running_mean/var` → batch_stats/base/layer2/block1/reduce/bn/{mean,var}
  `base.aspp.c0.weight` / `.bias`                 → params/base/aspp/c0/{kernel,bias}
Accepted: a `.pth` (zip or legacy `torch.save`, read without torch; the weights optionally nested under
'state_dict' / 'model') or an `.npz` with the same keys; the `base.` prefix (and a DataParallel
`module.` prefix) optional; `num_batches_tracked` ignored (frozen BN never reads it). Loading is strict:
one ValueError lists every missing, unexpected and mis-shaped key.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence

import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from spade_jax.evaluate.nets.deeplab import (ATROUS_RATES, BOTTLENECK_EXPANSION, LAYERS, MSC_SCALES, RESNET101_BLOCKS,
                                      STEM_CHANNELS, DeepLabV2)

CHECKPOINT_NAME = "deeplabv2_resnet101_msc-cocostuff164k-100000.pth"
DOWNLOAD_URL = f"https://github.com/kazuto1011/deeplab-pytorch/releases/download/v1.0/{CHECKPOINT_NAME}"
COCO_STUFF_CLASSES = 182
SKIPPED_LEAVES = ("num_batches_tracked",)
_BN_LEAVES = {"weight": ("params", "scale"), "bias": ("params", "bias"),
              "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}
_CONV_LEAVES = {"weight": ("params", "kernel"), "bias": ("params", "bias")}


def torch_state_shapes(num_classes: int = COCO_STUFF_CLASSES,
                       n_blocks: Sequence[int] = RESNET101_BLOCKS) -> dict[str, tuple[int, ...]]:
  """The original's state-dict keys (without `base.`) and shapes, from the architecture alone."""
  shapes: dict[str, tuple[int, ...]] = {}

  def conv_bn(name: str, cin: int, cout: int, k: int) -> None:
    shapes[f"{name}.conv.weight"] = (cout, cin, k, k)
    for leaf in _BN_LEAVES:
      shapes[f"{name}.bn.{leaf}"] = (cout,)

  conv_bn("layer1.conv1", 3, STEM_CHANNELS, 7)
  cin = STEM_CHANNELS
  for i, (n, (cout, _, _)) in enumerate(zip(n_blocks, LAYERS)):
    mid = cout // BOTTLENECK_EXPANSION
    for j in range(n):
      block = f"layer{i + 2}.block{j + 1}"
      conv_bn(f"{block}.reduce", cin if j == 0 else cout, mid, 1)
      conv_bn(f"{block}.conv3x3", mid, mid, 3)
      conv_bn(f"{block}.increase", mid, cout, 1)
      if j == 0:
        conv_bn(f"{block}.shortcut", cin, cout, 1)
    cin = cout
  for i in range(len(ATROUS_RATES)):
    shapes[f"aspp.c{i}.weight"] = (num_classes, cin, 3, 3)
    shapes[f"aspp.c{i}.bias"] = (num_classes,)
  return shapes


def torch_key_to_path(key: str) -> tuple[str, ...]:
  """Original key (without `base.`) → flattened Flax variable path `(collection, "base", ...)`."""
  module, _, leaf = key.rpartition(".")
  parts = tuple(module.split("."))
  table = _BN_LEAVES if parts[-1] == "bn" else _CONV_LEAVES
  if leaf not in table:
    raise ValueError(f"unexpected DeepLabV2 key {key!r}")
  collection, name = table[leaf]
  return (collection, "base") + parts + (name,)


def _strip_prefixes(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  out = {}
  for key, value in state.items():
    for prefix in ("module.", "base."):
      if key.startswith(prefix):
        key = key[len(prefix):]
    out[key] = value
  return out


def infer_config(state: Mapping[str, np.ndarray]) -> tuple[Optional[int], tuple[int, ...]]:
  """(num_classes from `aspp.c0.bias`, or None; blocks per layer from the `layer<k>.block<j>` keys)."""
  state = _strip_prefixes(state)
  bias = state.get("aspp.c0.bias")
  nc = int(np.shape(bias)[0]) if bias is not None and np.ndim(bias) == 1 else None
  blocks = []
  for k in range(2, 2 + len(LAYERS)):
    js = [int(key.split(".")[1][5:]) for key in state
          if key.startswith(f"layer{k}.block") and key.split(".")[1][5:].isdigit()]
    blocks.append(max(js, default=0))
  return nc, tuple(blocks)


def state_dict_to_variables(state: Mapping[str, np.ndarray], num_classes: Optional[int] = None,
                            n_blocks: Optional[Sequence[int]] = RESNET101_BLOCKS) -> dict:
  """State dict → `{"params", "batch_stats"}` of `DeepLabV2(num_classes, n_blocks)`, checked strictly.

  `num_classes=None` takes it from `aspp.c0.bias`; `n_blocks=None` takes the block counts from the keys.
  """
  state = {k: v for k, v in _strip_prefixes(state).items() if k.rpartition(".")[2] not in SKIPPED_LEAVES}
  inferred_nc, inferred_blocks = infer_config(state)
  if num_classes is None:
    if inferred_nc is None:
      raise ValueError("DeepLabV2 state dict has no 'aspp.c0.bias' (1-d) to take num_classes from; "
                       f"keys start with {sorted(state)[:3]}")
    num_classes = inferred_nc
  n_blocks = tuple(inferred_blocks if n_blocks is None else n_blocks)
  want = torch_state_shapes(num_classes, n_blocks)
  problems = [f"missing {k} {want[k]}" for k in want if k not in state]
  problems += [f"unexpected {k} {tuple(np.shape(v))}" for k, v in state.items() if k not in want]
  problems += [f"{k}: shape {tuple(np.shape(v))}, expected {want[k]}" for k, v in state.items()
               if k in want and tuple(np.shape(v)) != want[k]]
  if problems:
    shown = "; ".join(problems[:12]) + (f"; ... {len(problems) - 12} more" if len(problems) > 12 else "")
    raise ValueError(f"DeepLabV2 state dict does not match DeepLabV2(num_classes={num_classes}, "
                     f"n_blocks={n_blocks}) ({len(problems)} problems): {shown}")
  flat = {}
  for key, value in state.items():
    a = np.asarray(value, np.float32)
    flat[torch_key_to_path(key)] = jnp.asarray(a.transpose(2, 3, 1, 0) if a.ndim == 4 else a)  # OIHW → HWIO
  return traverse_util.unflatten_dict(flat)


def load_state(path: str) -> dict[str, np.ndarray]:
  """`.npz` / `.pth` → flat `{key: array}`; FileNotFoundError says where the checkpoint comes from."""
  if not path or not os.path.isfile(path):
    raise FileNotFoundError(f"DeepLabV2 weights not found: {path!r}. The COCO-Stuff segmenter is "
                            f"kazuto1011/deeplab-pytorch's {CHECKPOINT_NAME}, from {DOWNLOAD_URL}")
  if path.endswith(".npz"):
    with np.load(path) as f:
      return {k: f[k] for k in f.files}
  from spade_jax.io.torch_files import load_state_dict
  return load_state_dict(path)


def load_deeplabv2(path: str, num_classes: Optional[int] = None,
                   n_blocks: Optional[Sequence[int]] = RESNET101_BLOCKS,
                   msc_scales: Sequence[float] = MSC_SCALES, **module_kwargs) -> tuple[DeepLabV2, dict]:
  """Loads a DeepLabV2 checkpoint → `(DeepLabV2 module, variables)`; `module.apply(variables, images)`.

  `num_classes=None`: from the file (182 for COCO-Stuff); `n_blocks` defaults to ResNet-101's
  (3, 4, 23, 3) (None: from the file); `msc_scales`: the test-time multi-scale max of the original
  ((0.5, 0.75) plus full scale; `()` for single scale). Other keyword arguments (`dtype`, `precision`)
  go to the module.
  """
  state = load_state(path)
  try:
    variables = state_dict_to_variables(state, num_classes, n_blocks)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  nc = variables["params"]["base"]["aspp"]["c0"]["bias"].shape[0]
  blocks = tuple(len(variables["params"]["base"][f"layer{k}"]) for k in range(2, 2 + len(LAYERS)))
  module = DeepLabV2(num_classes=nc, n_blocks=blocks, msc_scales=tuple(msc_scales), **module_kwargs)
  return module, variables
