"""Per-region style codes on the host: mixing, mean codes per class, their files.

Codes are `[B, K, S]` float32 (K = the model's input channels: classes, then don't-care / instance-edge
channels when the layout has them), with a presence mask `[B, K]` bool (the channels the style photo has
at the encoder's resolution; absent rows are zero), as `SEANFamily.encode_styles` returns them.

Which code a region gets (the documented rule; the official UI crashes with a KeyError where a painted
class has no code at all, ZPdesu/SEAN#27):
  * `mix_styles(target, source, classes, alpha, mean)`: for every chosen class the target has, the
    source's code blended with the target's, `alpha·source + (1 − alpha)·target`; if the source lacks
    the class, the mean code of the class (blended alike) when `mean` is given, else the target's own
    code. Chosen classes the target lacks and classes not chosen keep the target's entry. With
    `mean=None` this is the official UI's `update_entire_feature`.
  * `with_mean(codes, presence, mean)`: absent rows → the class's mean code, where one exists (the UI's
    `load_input_feature`); rows with neither stay zero (a zero code: the region gets the style of its
    Linear's bias).
Mean codes (`MeanCodes`): the float32 mean over images of the code of every class the image has (the
official `calculate_mean_style_code.py`), with the count per class; written as `mean_style_codes.npz`
next to the checkpoints (`save_mean_codes`), read back by `load_mean_codes` (which also reads the
official `mean_style_code/mean/<j>/ACE.npy` folder).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Iterable, Optional, Sequence

import numpy as np

MEAN_CODES_FILE = "mean_style_codes.npz"


@dataclasses.dataclass(frozen=True)
class MeanCodes:
  """Per-class mean style codes: `codes [K, S]` (zero rows where `counts` is 0), `counts [K]`."""

  codes: np.ndarray
  counts: np.ndarray

  @property
  def present(self) -> np.ndarray:
    return self.counts > 0


def _np(a) -> np.ndarray:
  return np.asarray(a)


def check_codes(codes, *, num_channels: int, style_length: int, what: str = "styles") -> np.ndarray:
  """`[B, K, S]` float codes of the model's sizes, as float32; ValueError naming `what` otherwise."""
  codes = _np(codes)
  want = (num_channels, style_length)
  if codes.ndim != 3 or codes.shape[1:] != want:
    raise ValueError(f"{what}: style codes of shape {codes.shape}, expected [B, {want[0]}, {want[1]}] (one "
                     f"row of style_length {style_length} per input channel: {num_channels})")
  if not np.issubdtype(codes.dtype, np.floating):
    raise ValueError(f"{what}: style codes must be floats, got dtype {codes.dtype}")
  if not np.isfinite(codes).all():
    raise ValueError(f"{what}: style codes contain NaN or infinite values")
  return codes.astype(np.float32)


def mean_codes(batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> MeanCodes:
  """Mean code per class over every `(codes [B, K, S], presence [B, K])` batch: the average over the
  images that have the class (sums in float64)."""
  total, count = None, None
  for codes, presence in batches:
    codes, presence = _np(codes).astype(np.float64), _np(presence).astype(bool)
    if total is None:
      total, count = np.zeros(codes.shape[1:]), np.zeros(codes.shape[1], np.int64)
    total += np.einsum("bk,bks->ks", presence, codes)
    count += presence.sum(0)
  if total is None:
    raise ValueError("mean style codes: no images")
  codes = np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], 0).astype(np.float32)
  return MeanCodes(codes, count)


def with_mean(codes, presence, mean: Optional[MeanCodes]) -> tuple[np.ndarray, np.ndarray]:
  """Absent rows filled with the class's mean code where one exists → (codes, has_code [B, K])."""
  codes, presence = _np(codes).astype(np.float32).copy(), _np(presence).astype(bool)
  if mean is None:
    return codes, presence.copy()
  fill = ~presence & mean.present[None]
  codes[fill] = np.broadcast_to(mean.codes[None], codes.shape)[fill]
  return codes, presence | fill


def mix_styles(target: tuple, source: tuple, classes: Sequence[int], alpha: float = 1.0,
               mean: Optional[MeanCodes] = None) -> np.ndarray:
  """Style transfer per class (see the module docstring). `target`, `source`: `(codes, presence)`;
  the source may have one row (used for every target row). `target` codes may carry mean-filled rows
  (`with_mean`); `presence` says which classes the target image really has. → codes `[B, K, S]`."""
  t_codes, t_has = _np(target[0]).astype(np.float32), _np(target[1]).astype(bool)
  s_codes, s_has = _np(source[0]).astype(np.float32), _np(source[1]).astype(bool)
  if s_codes.shape[0] == 1 and t_codes.shape[0] > 1:
    s_codes = np.broadcast_to(s_codes, t_codes.shape)
    s_has = np.broadcast_to(s_has, t_has.shape)
  if s_codes.shape != t_codes.shape:
    raise ValueError(f"mix_styles: source codes {s_codes.shape} and target codes {t_codes.shape} differ")
  if not 0.0 <= float(alpha) <= 1.0:
    raise ValueError(f"mix_styles: alpha={alpha} is outside [0, 1]")
  k = t_codes.shape[1]
  bad = [c for c in classes if not 0 <= int(c) < k]
  if bad:
    raise ValueError(f"mix_styles: class {bad[0]} is outside 0..{k - 1}")
  chosen = np.zeros(k, bool)
  chosen[np.asarray(list(classes), np.int64)] = True
  other = t_codes
  if mean is not None:
    other = np.where(mean.present[None, :, None], mean.codes[None], t_codes)
  new_source = np.where(s_has[..., None], s_codes, other)
  mixed = alpha * new_source + (1 - alpha) * t_codes
  take = (chosen[None] & t_has)[..., None]
  return np.where(take, mixed, t_codes).astype(np.float32)


def per_class_codes(codes, presence, names: Sequence[str]) -> dict[str, dict[int, np.ndarray]]:
  """`{image name: {class: code}}` for the classes each image has: what the official test mode saves
  as `styles_test/style_codes/<name>/<class>/ACE.npy`."""
  codes, presence = _np(codes), _np(presence).astype(bool)
  return {n: {int(j): codes[b, j].astype(np.float32) for j in np.flatnonzero(presence[b])}
          for b, n in enumerate(names)}


def save_mean_codes(path: str, mean: MeanCodes, info: Optional[dict] = None) -> str:
  """Writes `codes`, `counts` and a JSON `info` string (e.g. the checkpoint step, the dataset split)."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = path + ".tmp.npz"
  np.savez(tmp, codes=mean.codes, counts=mean.counts, info=np.asarray(json.dumps(info or {})))
  os.replace(tmp, path)
  return path


def load_mean_codes(path: str, *, num_channels: Optional[int] = None,
                    style_length: Optional[int] = None) -> MeanCodes:
  """Our `.npz` (`save_mean_codes`) or the official folder (`.../mean/<j>/ACE.npy`, or its parent
  `mean_style_code/`); sizes checked when given. One-line errors naming the file."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"mean style codes file not found: {path} (write it with "
                            "`python -m spade_jax.models.sean.mean_codes --workdir DIR`)")
  if os.path.isdir(path):
    root = os.path.join(path, "mean") if os.path.isdir(os.path.join(path, "mean")) else path
    entries = {int(d): os.path.join(root, d, "ACE.npy") for d in os.listdir(root) if d.isdigit()}
    entries = {j: p for j, p in entries.items() if os.path.isfile(p)}
    if not entries:
      raise ValueError(f"{path}: no <class>/ACE.npy mean-code files in this folder")
    rows = {j: np.load(p).astype(np.float32).reshape(-1) for j, p in entries.items()}
    k = num_channels or max(rows) + 1
    if max(rows) >= k:
      raise ValueError(f"{path}: a mean code for class {max(rows)}, but the model has {k} input channels")
    s = {r.shape[0] for r in rows.values()}
    if len(s) != 1:
      raise ValueError(f"{path}: mean codes of different lengths {sorted(s)}")
    codes = np.zeros((k, s.pop()), np.float32)
    counts = np.zeros(k, np.int64)
    for j, r in rows.items():
      codes[j], counts[j] = r, 1
    mean = MeanCodes(codes, counts)
  else:
    try:
      with np.load(path) as f:
        mean = MeanCodes(f["codes"].astype(np.float32), f["counts"].astype(np.int64))
    except (OSError, ValueError, KeyError) as e:
      raise ValueError(f"{path}: not a mean style codes file ({e})") from None
  if num_channels is not None and mean.codes.shape[0] != num_channels:
    raise ValueError(f"{path}: mean codes for {mean.codes.shape[0]} input channels, the model has {num_channels}")
  if style_length is not None and mean.codes.shape[1] != style_length:
    raise ValueError(f"{path}: mean codes of length {mean.codes.shape[1]}, the model's style_length is "
                     f"{style_length}")
  return mean
