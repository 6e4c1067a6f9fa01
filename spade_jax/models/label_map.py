"""What every label-map family (SPADE, pix2pixHD, SEAN) shares at its boundary: the host-side checks
of `generate`'s inputs (class-id maps, instance maps, style photos) with one-line errors that name the
input, the option and the cause."""

from __future__ import annotations

import numpy as np

from spade_jax.models.base import Family


def check_label_ids(labels: np.ndarray, *, label_nc: int, contain_dontcare_label: bool,
                    image_hw: tuple[int, int], crop_size: int, aspect_ratio: float, what: str = "labels") -> None:
  """Integer ids `[B, H, W]` of the model's size, in 0..label_nc-1 (+ the don't-care id label_nc)."""
  n_ids = label_nc + int(bool(contain_dontcare_label))
  if labels.ndim != 3:
    raise ValueError(f"{what}: expected integer ids [B, H, W], got shape {labels.shape}")
  if not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{what}: expected integer class ids, got dtype {labels.dtype}")
  if labels.shape[1:] != tuple(image_hw):
    raise ValueError(f"{what}: size {labels.shape[1]}x{labels.shape[2]} (HxW) does not match the model's "
                     f"{image_hw[0]}x{image_hw[1]} (crop_size {crop_size}, aspect_ratio {aspect_ratio})")
  hi = int(labels.max(initial=0))
  if labels.size and (hi >= n_ids or int(labels.min()) < 0):
    raise ValueError(f"{what}: label id {hi if hi >= n_ids else int(labels.min())} is outside 0..{n_ids - 1} "
                     f"(label_nc={label_nc}, contain_dontcare_label={contain_dontcare_label})")


class LabelMapFamily(Family):
  """A family whose generator reads a label map of `config.data.label_nc` classes (+ instances)."""

  def check_inputs(self, inputs: dict, where=None) -> dict:
    out = super().check_inputs(inputs, where)
    d = self.config.data
    labels = out["label"]
    check_label_ids(labels, label_nc=d.label_nc, contain_dontcare_label=d.contain_dontcare_label,
                    image_hw=self.image_hw, crop_size=d.crop_size, aspect_ratio=d.aspect_ratio,
                    what=where or "label")
    spec = {i.name: i for i in self.input_spec()}
    for name, value in list(out.items()):
      kind = spec[name].kind
      if kind == "instance" and value.shape != labels.shape:
        raise ValueError(f"{name}: shape {value.shape} differs from the label map's {labels.shape}")
      if kind == "image":
        if value.ndim != 4 or value.shape[-1] != 3:
          raise ValueError(f"{name}: expected [B, H, W, 3] in [-1, 1], got shape {value.shape}")
        value = value.astype(np.float32)
        if value.shape[0] != labels.shape[0]:
          value = np.broadcast_to(value[:1], (labels.shape[0],) + value.shape[1:])
        out[name] = value
    return out

  def labels_and_instances(self, batch: dict) -> dict:
    """The label map (and instance map, when the layout has one) of a data batch."""
    out = {"label": batch["label"]}
    if not self.config.data.no_instance:
      out["instance"] = batch["instance"]
    return out
