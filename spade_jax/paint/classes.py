"""The classes a paint model draws with: id, name and colour of every id its label map may hold.

Colours are the ones the training logs use (`spade_jax.train.logs.palette`: the synthetic landscapes'
own colours, otherwise the PASCAL / pix2pixHD colour map) or, for a folder dataset with a colour
table (`data.color_table`), that table's colours and names. Every colour is unique, so a colour PNG
converts back to ids exactly; a don't-care id whose colour a class already has (black, id 0 of the
PASCAL map) gets the first colour of the map that no class uses.

A family that is not a label-map family (or wants other colours) provides `paint_classes()` →
`[(name, (r, g, b)), ...]`, one entry per id.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class PaintClass:
  id: int
  name: str
  color: tuple[int, int, int]

  def to_json(self) -> dict:
    return {"id": self.id, "name": self.name, "color": list(self.color)}


def _names(config, n: int) -> list[str]:
  from spade_jax.data.inspect import CLASS_NAMES
  known = CLASS_NAMES.get(str(config.data.get("name", "")), ())
  return [known[i] if i < len(known) else f"class {i}" for i in range(n)]


def _unique(colours: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
  from spade_jax.train.logs import label_colormap
  out, used = [], set()
  spare = (tuple(int(v) for v in c) for c in label_colormap(4096))
  for c in colours:
    while c in used:
      c = next(spare)
    used.add(c)
    out.append(c)
  return out


def class_table(family) -> list[PaintClass]:
  """Every id the family's label map may hold, in id order (see the module docstring)."""
  hook = getattr(family, "paint_classes", None)
  if hook is not None:
    rows = [(str(n), tuple(int(v) for v in c)) for n, c in hook()]
  else:
    d = family.config.data
    n_cls = int(d.label_nc)
    dontcare = bool(d.get("contain_dontcare_label", False))
    from spade_jax.train.logs import palette
    pal = [tuple(int(v) for v in c) for c in palette(family.config)]
    names = _names(family.config, n_cls)
    table_path = d.get("color_table", "") if d.get("label_format", "ids") == "rgb" else ""
    if table_path:
      from spade_jax.data.colors import load_color_table
      table = load_color_table(table_path)
      for key, i, name in zip(table.keys, table.ids, table.names or [""] * len(table.keys)):
        if 0 <= i < n_cls:
          pal[i] = ((key >> 16) & 255, (key >> 8) & 255, key & 255)
          names[i] = name or names[i]
    rows = [(names[i], pal[i]) for i in range(n_cls)]
    if dontcare:
      rows.append(("don't care", (0, 0, 0)))
  colours = _unique([c for _, c in rows])
  return [PaintClass(i, name, col) for i, ((name, _), col) in enumerate(zip(rows, colours))]


def colour_array(classes: list[PaintClass]) -> np.ndarray:
  """uint8 [n, 3]: the colour of each id."""
  return np.asarray([c.color for c in classes], np.uint8).reshape(-1, 3)
