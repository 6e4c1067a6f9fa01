"""What a run shows and writes: progress line, `metrics.jsonl`, TensorBoard (tensorboardX, no
TensorFlow), and image grids `label | generated | real` as PNG files and TensorBoard images.

Only the primary process writes (`Logs(..., active=False)` on the others).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Optional

import numpy as np
from PIL import Image

LOSS_ORDER = ("GAN", "GAN_Feat", "VGG", "L1", "KLD", "D_Fake", "D_real")


# ----------------------------------------------------------------------------------------------
# colours and grids
def label_colormap(n: int) -> np.ndarray:
  """pix2pixHD / PASCAL colour map: id → RGB by interleaving the id's bits (uint8 [n, 3])."""
  cmap = np.zeros((n, 3), np.uint8)
  for i in range(n):
    r = g = b = 0
    c = i
    for j in range(8):
      r |= ((c >> 0) & 1) << (7 - j)
      g |= ((c >> 1) & 1) << (7 - j)
      b |= ((c >> 2) & 1) << (7 - j)
      c >>= 3
      if not c:
        break
    cmap[i] = (r, g, b)
  return cmap


def palette(config) -> np.ndarray:
  """Colours for label ids 0..label_nc (the last one: don't-care, black)."""
  n = int(config.data.label_nc) + 1
  if config.data.name == "synthetic":
    from spade_jax.data.synthetic.layout import CLASS_COLOURS
    cols = np.asarray(CLASS_COLOURS, np.uint8)
    out = label_colormap(n)
    out[:min(len(cols), n)] = cols[:n]
  else:
    out = label_colormap(n)
  out[n - 1] = 0
  return out


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] float images → uint8 by the official truncation `(x + 1) / 2 · 255`."""
  return np.clip((np.asarray(images, np.float32) + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)


def image_grid(labels: np.ndarray, fake: np.ndarray, real: np.ndarray, colours: np.ndarray,
               pad: int = 2, max_rows: int = 4) -> np.ndarray:
  """Triplets `label | generated | real`, `max_rows` per column of triplets, columns side by side
  (uint8 [rows·(H+pad)+pad, blocks·3·(W+pad)+pad, 3])."""
  lab = colours[np.clip(np.asarray(labels), 0, len(colours) - 1)]
  cols = [lab, to_uint8(fake), to_uint8(real)]
  n, h, w = lab.shape[:3]
  rows = min(n, max_rows)
  blocks = -(-n // rows)
  grid = np.full((rows * (h + pad) + pad, blocks * 3 * (w + pad) + pad, 3), 255, np.uint8)
  for i in range(n):
    r, b = i % rows, i // rows
    for c, col in enumerate(cols):
      y, x = pad + r * (h + pad), pad + (3 * b + c) * (w + pad)
      grid[y:y + h, x:x + w] = col[i]
  return grid


def save_png(path: str, image: np.ndarray):
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  Image.fromarray(image).save(path)


# ----------------------------------------------------------------------------------------------
# progress
def _fmt_time(s: float) -> str:
  if not math.isfinite(s):
    return "?"
  s = int(s)
  h, rem = divmod(s, 3600)
  m, sec = divmod(rem, 60)
  return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def format_progress(step: int, total: int, steps_per_s: float, metrics: dict) -> str:
  eta = (total - step) / steps_per_s if steps_per_s > 0 else float("inf")
  width = 20
  done = int(width * step / max(total, 1))
  bar = "#" * done + "." * (width - done)
  terms = " ".join(f"{k} {metrics[k]:.3f}" for k in LOSS_ORDER if k in metrics)
  return (f"{step:>{len(str(total))}}/{total} [{bar}] {steps_per_s:.2f} steps/s ETA {_fmt_time(eta)}"
          + (f" | {terms}" if terms else ""))


class Progress:
  """One updating line on a terminal; plain lines (one per call) otherwise."""

  def __init__(self, total: int, stream=None, active: bool = True):
    self.total = total
    self.stream = stream or sys.stderr
    self.active = active
    self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

  def update(self, step: int, steps_per_s: float, metrics: dict):
    if not self.active:
      return
    line = format_progress(step, self.total, steps_per_s, metrics)
    if self.tty:
      self.stream.write("\r" + line + "\x1b[K")
    else:
      self.stream.write(line + "\n")
    self.stream.flush()

  def message(self, text: str):
    if not self.active:
      return
    self.stream.write(("\n" if self.tty else "") + text + "\n")
    self.stream.flush()

  def close(self):
    if self.active and self.tty:
      self.stream.write("\n")
      self.stream.flush()


# ----------------------------------------------------------------------------------------------
class Logs:
  """JSONL metrics, TensorBoard scalars / images and grid PNGs under the workdir."""

  def __init__(self, workdir: str, active: bool = True, tensorboard: bool = True):
    self.workdir = workdir
    self.active = active
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self.samples_dir = os.path.join(workdir, "samples")
    self._tb = None
    self._tb_wanted = tensorboard
    if active:
      os.makedirs(workdir, exist_ok=True)

  def truncate_after(self, step: int):
    """On resume: drop metric lines past the restored step (they will be written again)."""
    if not self.active or not os.path.exists(self.jsonl_path):
      return
    keep = []
    with open(self.jsonl_path) as f:
      for line in f:
        try:
          if json.loads(line).get("step", 0) <= step:
            keep.append(line)
        except json.JSONDecodeError:
          continue  # a line cut by a kill
    tmp = self.jsonl_path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(keep)
    os.replace(tmp, self.jsonl_path)

  @property
  def tb(self):
    if self._tb is None and self._tb_wanted and self.active:
      try:
        from tensorboardX import SummaryWriter
      except ImportError:  # pragma: no cover - tensorboardX is a requirement
        self._tb_wanted = False
        return None
      self._tb = SummaryWriter(os.path.join(self.workdir, "tensorboard"), flush_secs=30)
    return self._tb

  def scalars(self, step: int, values: dict):
    if not self.active:
      return
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps({"step": int(step), **{k: _jsonable(v) for k, v in values.items()}}) + "\n")
    tb = self.tb
    if tb is not None:
      for k, v in values.items():
        if isinstance(v, (int, float)) and k != "time":
          tb.add_scalar(_tb_name(k), v, step)

  def grid(self, step: int, grid: np.ndarray, tag: str = "samples") -> Optional[str]:
    if not self.active:
      return None
    path = os.path.join(self.samples_dir, f"{tag}_{step:08d}.png")
    save_png(path, grid)
    tb = self.tb
    if tb is not None:
      tb.add_image(f"{tag}/label_generated_real", grid, step, dataformats="HWC")
    return path

  def flush(self):
    if self._tb is not None:
      self._tb.flush()

  def close(self):
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def _tb_name(k: str) -> str:
  if k in LOSS_ORDER:
    return f"loss/{k}"
  return f"train/{k}"


def _jsonable(v):
  if isinstance(v, (np.floating, np.integer)):
    v = v.item()
  if isinstance(v, float) and not math.isfinite(v):
    return str(v)  # JSON has no NaN/inf
  return v
