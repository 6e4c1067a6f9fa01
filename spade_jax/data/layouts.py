"""Finding the samples of a dataset on disk: files, split, and which photo goes with which label.

Per format (NVlabs/SPADE `data/<dataset>_dataset.py`: `get_paths`):
  * cityscapes: the official tree (`gtFine/<split>/<city>/*_gtFine_labelIds.png`, `*_instanceIds.png`,
    `leftImg8bit/<split>/<city>/*_leftImg8bit.png`) or the pix2pixHD layout (`<split>_label`,
    `<split>_img`, `<split>_inst`); samples pair on `city_seq_frame`.
  * ade20k: ADEChallengeData2016 (`images/`, `annotations/`); split from `_train_` / `_val_` in the
    name, `.jpg` photo, `.png` label.
  * coco_stuff: the official SPADE layout `<split>_label`, `<split>_img`, `<split>_inst` (+ `_portrait`
    folders for train unless `coco_no_portraits`).
  * folder: label / image [/ instance] folders given by the user (`{split}` in a folder name stands
    for the split), or else one of the common layouts in `FOLDER_PATTERNS`; pairing on file stems.
Splits are `train` and `val`; a `test` folder serves as `val` when there is no `val`. A split whose
photo folder does not exist at all is *label-only* (maps to synthesize from, e.g. the pix2pixHD
Cityscapes `test`): reported, never built. Hidden files (dotfiles) are ignored.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable, Optional

from spade_jax.data.decoding import is_image_name
from spade_jax.data.problems import Problem

FORMATS = ("synthetic", "cityscapes", "ade20k", "coco_stuff", "folder")
SPLITS = ("train", "val")
# (label, image, instance) folder patterns tried in order for `folder` without explicit folders.
FOLDER_PATTERNS = (
    ("{split}_label", "{split}_img", "{split}_inst"),  # SPADE / pix2pixHD
    ("{split}annot", "{split}", "{split}inst"),  # SegNet (CamVid)
    ("{split}/labels", "{split}/images", "{split}/instances"),
    ("labels/{split}", "images/{split}", "instances/{split}"),
    ("labels", "images", "instances"),  # one split (train), like the official custom mode
    ("label", "image", "instance"),
)
_CS_IGNORED = ("_gtFine_color.png", "_gtFine_polygons.json", "_gtFine_labelTrainIds.png",
               "_gtFine_instanceTrainIds.png")


@dataclasses.dataclass(frozen=True)
class Sample:
  key: str  # pairing key (file stem, or city_seq_frame)
  label: str
  image: Optional[str]
  instance: Optional[str]


@dataclasses.dataclass
class SplitFiles:
  name: str
  samples: list[Sample]
  label_only: bool = False


@dataclasses.dataclass
class Discovery:
  layout: str
  splits: dict[str, SplitFiles] = dataclasses.field(default_factory=dict)
  problems: list[Problem] = dataclasses.field(default_factory=list)
  notes: list[str] = dataclasses.field(default_factory=list)


def natural_key(s: str):
  return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def stem(path: str) -> str:
  return os.path.splitext(os.path.basename(path))[0]


def cityscapes_key(path: str) -> str:
  return "_".join(os.path.basename(path).split("_")[:3])


def list_dir(root: str, recursive: bool, problems: list[Problem],
             ignore: Callable[[str], bool] = lambda p: False) -> list[str]:
  """Image files under `root` (natural order); other files become problems unless ignored."""
  found = []
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
    for f in filenames:
      path = os.path.join(dirpath, f)
      if f.startswith(".") or ignore(path):
        continue
      if is_image_name(f):
        found.append(path)
      else:
        ext = os.path.splitext(f)[1] or "(none)"
        problems.append(Problem(path, f"not an image file (extension {ext})"))
  return sorted(found, key=natural_key)


def _index(paths, key, problems) -> dict[str, str]:
  out: dict[str, str] = {}
  for p in paths:
    k = key(p)
    if k in out:
      problems.append(Problem(p, f"second file for sample '{k}' (also {out[k]})"))
    else:
      out[k] = p
  return out


def pair(labels: list[str], images: Optional[list[str]], instances: Optional[list[str]],
         key: Callable[[str], str], where: dict[str, str], problems: list[Problem]) -> list[Sample]:
  """Matches files by key; `None` for images/instances means that folder is absent (not used)."""
  lab = _index(labels, key, problems)
  img = _index(images, key, problems) if images is not None else None
  ins = _index(instances, key, problems) if instances is not None else None
  samples = []
  for k, lp in lab.items():
    ok = True
    if img is not None and k not in img:
      problems.append(Problem(lp, f"label map without photo (no '{k}' image in {where['image']})"))
      ok = False
    if ins is not None and k not in ins:
      problems.append(Problem(lp, f"missing instance map (no '{k}' image in {where['instance']})"))
      ok = False
    if ok:
      samples.append(Sample(k, lp, img[k] if img is not None else None,
                            ins[k] if ins is not None else None))
  for k, p in (img or {}).items():
    if k not in lab:
      problems.append(Problem(p, f"photo without label map (no '{k}' image in {where['label']})"))
  for k, p in (ins or {}).items():
    if k not in lab:
      problems.append(Problem(p, f"instance map without label map (no '{k}' in {where['label']})"))
  return samples


def _split_name(found: dict[str, str], split: str) -> Optional[str]:
  """The folder-level split name that provides `split` (`test` stands in for a missing `val`)."""
  if split in found:
    return split
  return "test" if split == "val" and "test" in found else None


def _dirs_layout(data_dir: str, pattern: tuple[str, str, str], no_instance: bool, key,
                 disc: Discovery, extra_suffixes: tuple[str, ...] = ()) -> None:
  """Fills `disc` from a (label, image, instance) folder pattern; `{split}` names the split."""
  lp, ip, np_ = (p if os.path.isabs(p) else os.path.join(data_dir, p) for p in pattern)
  per_split = "{split}" in lp
  present = {s: lp.format(split=s) for s in ("train", "val", "test")
             if os.path.isdir(lp.format(split=s))} if per_split else (
                 {"train": lp} if os.path.isdir(lp) else {})
  for split in SPLITS:
    src = _split_name(present, split)
    if src is None:
      continue
    if split == "val" and src == "test":
      disc.notes.append(f"val: read from the '{os.path.basename(present[src])}' folders")
    fmt = (lambda p: p.format(split=src)) if per_split else (lambda p: p)
    suffixes = ("",) + (extra_suffixes if split == "train" else ())
    ldirs = [fmt(lp) + s for s in suffixes if os.path.isdir(fmt(lp) + s)]
    idirs = [fmt(ip) + s for s in suffixes if os.path.isdir(fmt(ip) + s)]
    ndirs = [fmt(np_) + s for s in suffixes if os.path.isdir(fmt(np_) + s)]
    labels = [f for d in ldirs for f in list_dir(d, False, disc.problems)]
    images = [f for d in idirs for f in list_dir(d, False, disc.problems)] if idirs else None
    instances = None
    if not no_instance:
      if ndirs:
        instances = [f for d in ndirs for f in list_dir(d, False, disc.problems)]
      else:
        disc.problems.append(Problem(fmt(np_), "missing instance maps: folder not found (pass "
                                     "--no-instance / data.no_instance if the dataset has none)"))
    _finish_split(disc, split, labels, images, instances, key,
                  {"label": fmt(lp), "image": fmt(ip), "instance": fmt(np_)})


def _finish_split(disc, split, labels, images, instances, key, where):
  if not labels and not images:
    disc.problems.append(Problem(where["label"], f"empty split '{split}': no label maps or photos"))
    return
  samples = pair(labels, images, instances, key, where, disc.problems)
  label_only = images is None
  if label_only:
    disc.notes.append(f"{split}: {len(samples)} label maps without photos ({where['image']} not "
                      "found): label-only, usable for synthesis, not built")
  disc.splits[split] = SplitFiles(split, samples, label_only)


def _cityscapes(data_dir, no_instance, disc):
  if not os.path.isdir(os.path.join(data_dir, "gtFine")):
    disc.layout = "cityscapes (pix2pixHD: <split>_label, <split>_img, <split>_inst)"
    _dirs_layout(data_dir, FOLDER_PATTERNS[0], no_instance, cityscapes_key, disc)
    return
  disc.layout = "cityscapes (official: gtFine/<split>, leftImg8bit/<split>)"
  ignore = lambda p: p.endswith(_CS_IGNORED)  # noqa: E731
  for split in SPLITS:
    gt = os.path.join(data_dir, "gtFine", split)
    photos = os.path.join(data_dir, "leftImg8bit", split)
    if not os.path.isdir(gt):
      continue
    files = list_dir(gt, True, disc.problems, ignore)
    labels = [f for f in files if f.endswith("_gtFine_labelIds.png")]
    instances = [f for f in files if f.endswith("_gtFine_instanceIds.png")]
    for f in sorted(set(files) - set(labels) - set(instances)):
      disc.problems.append(Problem(f, "unexpected file (not *_gtFine_labelIds.png or "
                                   "*_gtFine_instanceIds.png)"))
    images = None
    if os.path.isdir(photos):
      images = list_dir(photos, True, disc.problems)
      for f in [f for f in images if not f.endswith("_leftImg8bit.png")]:
        disc.problems.append(Problem(f, "unexpected file (not *_leftImg8bit.png)"))
        images.remove(f)
    _finish_split(disc, split, labels, images, None if no_instance else instances,
                  cityscapes_key, {"label": gt, "image": photos, "instance": gt})


def _ade20k(data_dir, disc):
  root = os.path.join(data_dir, "ADEChallengeData2016")
  root = root if os.path.isdir(root) else data_dir
  disc.layout = "ade20k (ADEChallengeData2016: images/, annotations/)"
  files = []
  for entry in sorted(os.listdir(root)):  # top-level files are metadata (objectInfo150.txt, ...)
    path = os.path.join(root, entry)
    if os.path.isdir(path) and not entry.startswith("."):
      files += list_dir(path, True, disc.problems)
  by_split = {s: ([], []) for s in SPLITS}
  for f in files:
    name = os.path.basename(f)
    split = "train" if "_train_" in name else "val" if "_val_" in name else None
    ext = os.path.splitext(name)[1].lower()
    if split is None or ext not in (".jpg", ".png"):
      disc.problems.append(Problem(f, "not an ADE20K file (ADE_train_* / ADE_val_*, .jpg photo or "
                                   ".png label)"))
      continue
    by_split[split][0 if ext == ".png" else 1].append(f)
  for split, (labels, images) in by_split.items():
    if labels or images:
      where = {"label": os.path.join(root, "annotations"), "image": os.path.join(root, "images"),
               "instance": ""}
      _finish_split(disc, split, labels, images, None, stem, where)


def discover(fmt: str, data_dir: str, *, no_instance: bool, label_dir: str = "",
             image_dir: str = "", instance_dir: str = "", coco_no_portraits: bool = False
             ) -> Discovery:
  """Finds the samples of `data_dir` in format `fmt` (not `synthetic`); never raises for bad data."""
  disc = Discovery(layout=fmt)
  if not os.path.isdir(data_dir):
    disc.problems.append(Problem(data_dir, "directory not found"))
    return disc
  if not [e for e in os.listdir(data_dir) if not e.startswith(".")]:
    disc.problems.append(Problem(data_dir, "empty directory"))
    return disc
  if fmt == "cityscapes":
    _cityscapes(data_dir, no_instance, disc)
  elif fmt == "ade20k":
    _ade20k(data_dir, disc)
  elif fmt == "coco_stuff":
    disc.layout = "coco_stuff (SPADE: <split>_label, <split>_img, <split>_inst)"
    _dirs_layout(data_dir, FOLDER_PATTERNS[0], no_instance, stem, disc,
                 () if coco_no_portraits else ("_portrait",))
  elif fmt == "folder":
    if label_dir or image_dir:
      if not (label_dir and image_dir):
        disc.problems.append(Problem(data_dir, "folder format needs both label_dir and image_dir"))
        return disc
      if not (instance_dir or no_instance):
        disc.problems.append(Problem(data_dir, "missing instance maps: no instance_dir given (pass "
                                     "--no-instance / data.no_instance if the dataset has none)"))
        return disc
      patterns = [(label_dir, image_dir, instance_dir)]
    else:
      patterns = FOLDER_PATTERNS
    for pat in patterns:
      lp = pat[0] if os.path.isabs(pat[0]) else os.path.join(data_dir, pat[0])
      if any(os.path.isdir(lp.format(split=s)) for s in ("train", "val", "test")):
        disc.layout = f"folder (labels {pat[0]}, photos {pat[1]}, instances {pat[2]})"
        _dirs_layout(data_dir, pat, no_instance, stem, disc)
        break
  else:
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS[1:]}")
  if not disc.splits and not disc.problems:
    want = {"folder": "label/photo folders such as " + ", ".join(
        f"{p[0]} + {p[1]}" for p in FOLDER_PATTERNS[:3]) if not label_dir else f"{label_dir}",
            "cityscapes": "gtFine/ + leftImg8bit/, or train_label/ + train_img/",
            "ade20k": "images/ + annotations/ with ADE_train_* / ADE_val_* files",
            "coco_stuff": "train_label/ + train_img/ (+ train_inst/)"}[fmt]
    disc.problems.append(Problem(data_dir, f"no {fmt} dataset found (expected {want})"))
  return disc
