"""Colour tables for RGB / palette label PNGs: colour → class id, given by the user or inferred.

Table file format (text, one class per line, `#` starts a comment):

    # id  r   g   b   [name]
    0     128 64  128 road
    1     244 35  232 sidewalk
    255   0   0   0   unlabeled     (255 = don't-care, like an id PNG)

An inferred table numbers the distinct colours found in the label maps in sorted (r, g, b) order.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

import numpy as np

from spade_jax.errors import UserError


class ColorTableError(UserError, ValueError):
  pass


def pack(rgb: np.ndarray) -> np.ndarray:
  """`[..., 3]` uint8 colours → int32 keys `r << 16 | g << 8 | b`."""
  rgb = rgb.astype(np.int32)
  return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unpack(key: int) -> tuple[int, int, int]:
  return (key >> 16) & 255, (key >> 8) & 255, key & 255


@dataclasses.dataclass(frozen=True)
class ColorTable:
  keys: tuple[int, ...]  # packed colours, sorted
  ids: tuple[int, ...]  # class id of each colour
  names: tuple[str, ...] = ()

  def __post_init__(self):
    if list(self.keys) != sorted(set(self.keys)):
      raise ColorTableError("colour table keys must be unique and sorted")

  @classmethod
  def from_entries(cls, entries: Iterable[tuple[int, tuple[int, int, int], str]]) -> "ColorTable":
    rows = sorted((int(pack(np.asarray(rgb))), int(i), name) for i, rgb, name in entries)
    keys = [r[0] for r in rows]
    if len(set(keys)) != len(keys):
      dup = next(k for k in keys if keys.count(k) > 1)
      raise ColorTableError(f"colour {_unpack(dup)} is listed twice")
    return cls(tuple(keys), tuple(r[1] for r in rows), tuple(r[2] for r in rows))

  @classmethod
  def infer(cls, colours: Iterable[int]) -> "ColorTable":
    """Numbers the packed colours `colours` 0, 1, ... in sorted (r, g, b) order."""
    keys = sorted(set(int(c) for c in colours))
    return cls(tuple(keys), tuple(range(len(keys))), tuple(f"rgb{_unpack(k)}" for k in keys))

  def to_ids(self, rgb: np.ndarray) -> tuple[np.ndarray, Optional[tuple[int, int, int]]]:
    """`[H, W, 3]` colours → int32 ids; also the first colour missing from the table (or None)."""
    packed = pack(rgb)
    keys = np.asarray(self.keys, np.int64)
    pos = np.clip(np.searchsorted(keys, packed), 0, len(keys) - 1)
    found = keys[pos] == packed
    if not found.all():
      return np.zeros(packed.shape, np.int32), _unpack(int(packed[~found][0]))
    return np.asarray(self.ids, np.int32)[pos], None

  def describe(self) -> str:
    """The table in the file format above (what `inspect` prints for an inferred table)."""
    lines = ["# id r g b name"]
    for k, i, n in sorted(zip(self.keys, self.ids, self.names or [""] * len(self.keys)),
                          key=lambda t: t[1]):
      r, g, b = _unpack(k)
      lines.append(f"{i} {r} {g} {b} {n}".rstrip())
    return "\n".join(lines)


def load_color_table(path: str) -> ColorTable:
  entries = []
  try:
    with open(path) as f:
      lines = f.readlines()
  except OSError as e:
    raise ColorTableError(f"{path}: cannot read colour table ({e.strerror})") from None
  for n, line in enumerate(lines, 1):
    fields = line.split("#", 1)[0].split()
    if not fields:
      continue
    try:
      i, r, g, b = (int(v) for v in fields[:4])
    except ValueError:
      raise ColorTableError(f"{path}:{n}: expected 'id r g b [name]', got {line.strip()!r}") from None
    if not all(0 <= v <= 255 for v in (r, g, b)) or i < 0:
      raise ColorTableError(f"{path}:{n}: colour values must be 0..255 and ids >= 0")
    entries.append((i, (r, g, b), " ".join(fields[4:])))
  if not entries:
    raise ColorTableError(f"{path}: colour table is empty")
  try:
    return ColorTable.from_entries(entries)
  except ColorTableError as e:
    raise ColorTableError(f"{path}: {e}") from None
