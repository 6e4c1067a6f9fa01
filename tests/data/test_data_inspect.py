"""`python -m spade_jax.data.inspect`: exit 0 on good data, one `FILE: cause` line per problem."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tiny_datasets as tiny
from spade_jax.data import builders, cli, inspect
from spade_jax.data.problems import DataError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_inspect(capsys, *args) -> tuple[int, str]:
  with pytest.raises(SystemExit) as e:
    cli.run(lambda: inspect.main(list(args)))
  out = capsys.readouterr()
  return e.value.code, out.out + out.err


def folder_args(root, *extra):
  return ("--format", "folder", "--data-dir", str(root), "--label-nc", "3") + extra


def test_good_folder_dataset(tiny_folder, capsys):
  code, out = run_inspect(capsys, *folder_args(tiny_folder))
  assert code == 0, out
  assert "split train: 3 samples; sizes 8x6 (3)" in out
  assert "split val: 2 samples" in out
  assert "classes never seen (train): none" in out
  assert "OK: 5 samples checked" in out


def _truncate(path):
  data = open(path, "rb").read()
  open(path, "wb").write(data[: len(data) // 2])


def _garbage(path):
  open(path, "wb").write(b"this is not an image at all" * 10)


# (name, mutation of a fresh tiny folder dataset at `r`, extra flags, file named, cause fragment)
BAD_CASES = [
    ("id_too_large", lambda r: tiny.write(f"{r}/train_label/train000.png", value=5), (),
     "train_label/train000.png", "label id 5 >= label_nc=3"),
    ("dontcare_without_flag", lambda r: tiny.write(f"{r}/train_label/train001.png", value=255), (),
     "train_label/train001.png", "255 is the don't-care id: set --contain-dontcare-label"),
    ("photo_size_mismatch", lambda r: tiny.photo(f"{r}/train_img/train000.jpg", size=(10, 6)), (),
     "train_img/train000.jpg", "photo size 10x6 differs from its label map's 8x6"),
    ("instance_size_mismatch", lambda r: tiny.write(f"{r}/val_inst/val001.png", size=(8, 5)), (),
     "val_inst/val001.png", "instance map size 8x5 differs"),
    ("photo_without_label", lambda r: tiny.photo(f"{r}/train_img/extra.jpg"), (),
     "train_img/extra.jpg", "photo without label map"),
    ("label_without_photo", lambda r: os.remove(f"{r}/val_img/val000.jpg"), (),
     "val_label/val000.png", "label map without photo"),
    ("missing_instance_map", lambda r: os.remove(f"{r}/train_inst/train002.png"), (),
     "train_label/train002.png", "missing instance map"),
    ("missing_instance_folder", lambda r: shutil.rmtree(f"{r}/val_inst"), (),
     "val_inst", "missing instance maps: folder not found"),
    ("truncated_photo", lambda r: _truncate(f"{r}/train_img/train001.jpg"), (),
     "train_img/train001.jpg", "truncated or corrupt image"),
    ("truncated_label", lambda r: _truncate(f"{r}/train_label/train001.png"), (),
     "train_label/train001.png", "truncated or corrupt image"),
    ("unreadable_photo", lambda r: _garbage(f"{r}/train_img/train002.jpg"), (),
     "train_img/train002.jpg", "not a readable image"),
    ("rgb_label", lambda r: tiny.write(f"{r}/train_label/train000.png", tiny.ids(), mode="RGB"),
     (), "train_label/train000.png", "RGB label (mode RGB) where class ids are expected"),
    ("palette_label", lambda r: tiny.write(f"{r}/train_label/train000.png", tiny.ids(), mode="P"),
     (), "train_label/train000.png", "palette label (mode P) where class ids are expected"),
    ("rgb_instance_map", lambda r: tiny.write(f"{r}/train_inst/train000.png", tiny.ids(),
                                              mode="RGB"), (),
     "train_inst/train000.png", "instance map of mode RGB"),
    ("non_image_file", lambda r: open(f"{r}/train_img/notes.txt", "w").write("x"), (),
     "train_img/notes.txt", "not an image file (extension .txt)"),
    ("empty_split", lambda r: [os.remove(os.path.join(d, f)) for d in
                               (f"{r}/val_label", f"{r}/val_img", f"{r}/val_inst")
                               for f in os.listdir(d)], (),
     "val_label", "empty split 'val'"),
]


@pytest.mark.parametrize("name,mutate,extra,where,cause", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_named(tiny_folder, capsys, name, mutate, extra, where, cause):
  mutate(tiny_folder)
  code, out = run_inspect(capsys, *folder_args(tiny_folder, *extra))
  assert code == 1, out
  lines = [ln for ln in out.splitlines() if ln.startswith(os.path.join(tiny_folder, where) + ": ")]
  assert any(cause in ln for ln in lines), out
  assert "Traceback" not in out
  # The builder refuses the same data with the same lines.
  spec = cli.spec_from_args(cli_args(tiny_folder, *extra))
  with pytest.raises(DataError) as e:
    builders.prepare(spec, cache_dir=os.path.join(os.path.dirname(tiny_folder), "cache"),
                     log=lambda s: None)
  problem_lines = [ln for ln in out.splitlines() if ln.startswith(str(tiny_folder))]
  assert [str(p) for p in e.value.problems] == problem_lines


def cli_args(root, *extra):
  import argparse
  p = argparse.ArgumentParser()
  cli.add_dataset_flags(p)
  return p.parse_args(list(folder_args(root, *extra)))


def test_dontcare_flag_accepts_255(tiny_folder, capsys):
  tiny.write(f"{tiny_folder}/train_label/train001.png", value=255)
  code, out = run_inspect(capsys, *folder_args(tiny_folder, "--contain-dontcare-label"))
  assert code == 0, out
  assert "don't-care" in out


def test_no_instance_ignores_instance_maps(tiny_folder, capsys):
  shutil.rmtree(f"{tiny_folder}/train_inst")
  code, out = run_inspect(capsys, *folder_args(tiny_folder, "--no-instance"))
  assert code == 0, out


@pytest.mark.parametrize("setup,cause", [
    (lambda p: p.mkdir(), "empty directory"),
    (lambda p: None, "directory not found"),
    (lambda p: (p.mkdir(), (p / "readme.md").write_text("x")), "no folder dataset found"),
])
def test_empty_or_missing_directory(tmp_path, capsys, setup, cause):
  root = tmp_path / "ds"
  setup(root)
  code, out = run_inspect(capsys, *folder_args(root))
  assert code == 1
  assert f"{root}: {cause}" in out


def test_palette_and_rgb_label_formats(tmp_path, capsys):
  root = tiny.folder_dataset(tmp_path / "ds", instance=False)
  for split, n in (("train", 3), ("val", 2)):
    for i in range(n):
      tiny.write(f"{root}/{split}_label/{split}{i:03d}.png", tiny.ids(seed=i), mode="P")
  code, out = run_inspect(capsys, *folder_args(root, "--no-instance", "--label-format", "palette"))
  assert code == 0, out
  colours = np.array([[10, 20, 30], [200, 0, 0], [0, 200, 0]], np.uint8)
  for split, n in (("train", 3), ("val", 2)):
    for i in range(n):
      tiny.write(f"{root}/{split}_label/{split}{i:03d}.png", colours[tiny.ids(seed=i)])
  code, out = run_inspect(capsys, *folder_args(root, "--no-instance", "--label-format", "rgb"))
  assert code == 0, out
  assert "inferred colour table" in out and "  0 0 200 0" in out and "  1 10 20 30" in out
  table = tmp_path / "table.txt"
  table.write_text("0 10 20 30 a\n1 200 0 0 b\n")  # green is missing
  code, out = run_inspect(capsys, *folder_args(root, "--no-instance", "--label-format", "rgb",
                                               "--color-table", str(table)))
  assert code == 1
  assert "colour (0, 200, 0) is not in the colour table" in out


def test_cityscapes_official_layout(tmp_path, capsys):
  root = tiny.cityscapes_official(tmp_path / "cs")
  code, out = run_inspect(capsys, "--format", "cityscapes", "--data-dir", root)
  assert code == 0, out
  assert "split train: 2 samples" in out and "split val: 2 samples" in out
  stray = os.path.join(root, "gtFine", "train", "aachen", "stray.png")
  tiny.write(stray)
  code, out = run_inspect(capsys, "--format", "cityscapes", "--data-dir", root)
  assert code == 1
  assert f"{stray}: unexpected file" in out


def test_ade20k_layout(tmp_path, capsys):
  root = tiny.ade20k(tmp_path / "ade")
  code, out = run_inspect(capsys, "--format", "ade20k", "--data-dir", root)
  assert code == 0, out
  assert "label_nc=150, contain_dontcare_label=True, no_instance=True" in out
  bad = os.path.join(root, "ADEChallengeData2016", "annotations", "training", "ADE_train_00000001.png")
  tiny.write(bad, value=151)
  code, out = run_inspect(capsys, "--format", "ade20k", "--data-dir", root)
  assert code == 1 and f"{bad}: label id 151 >= label_nc=150" in out


def test_coco_layout_with_portraits(tmp_path, capsys):
  root = tiny.folder_dataset(tmp_path / "coco", label_nc=182)
  tiny.write(f"{root}/train_label/train000.png", value=255)
  tiny.folder_dataset(tmp_path / "coco", n=(1, 0), prefix="portrait_",
                      pattern=("{s}_label_portrait", "{s}_img_portrait", "{s}_inst_portrait"))
  code, out = run_inspect(capsys, "--format", "coco", "--data-dir", root)
  assert code == 0, out
  assert "split train: 4 samples" in out
  code, out = run_inspect(capsys, "--format", "coco", "--data-dir", root, "--coco-no-portraits")
  assert "split train: 3 samples" in out


def test_cli_module_exit_codes(tmp_path):
  """Through `python -m`: bad data gives exit 1 and problem lines, never a traceback."""
  root = tiny.folder_dataset(tmp_path / "ds")
  tiny.write(f"{root}/train_label/train000.png", value=9)
  env = dict(os.environ, PYTHONPATH=REPO)
  cmd = [sys.executable, "-m", "spade_jax.data.inspect", "--format", "folder", "--data-dir", root,
         "--label-nc", "3"]
  res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
  assert res.returncode == 1
  assert f"{root}/train_label/train000.png: label id 9 >= label_nc=3" in res.stdout
  assert "Traceback" not in res.stdout + res.stderr
  res = subprocess.run(cmd[:-2], capture_output=True, text=True, env=env, cwd=REPO)
  assert res.returncode == 2 and "--label-nc is required" in res.stderr
  assert "Traceback" not in res.stderr


@pytest.mark.parametrize("sample,args", [
    ("camvid", ("--format", "folder", "--label-nc", "12", "--no-instance")),
    ("coco_stuff_sample", ("--format", "coco")),
    ("cityscapes_sample", ("--format", "cityscapes")),
])
def test_shared_samples_pass(shared_dir, capsys, sample, args):
  code, out = run_inspect(capsys, *args, "--data-dir", str(shared_dir / "data" / sample))
  assert code == 0, out
  assert "OK:" in out


def test_synthetic_records(tmp_path, capsys):
  from spade_jax.data.dataset import DatasetSpec, SyntheticSpec
  from spade_jax.data.validate import LabelSpec
  root = tmp_path / "syn"
  code, out = run_inspect(capsys, "--format", "synthetic", "--data-dir", str(tmp_path))
  assert code == 1 and "no prepared synthetic dataset here" in out
  builders.prepare(DatasetSpec("synthetic", str(root), LabelSpec(10),
                               synthetic=SyntheticSpec(4, 2, 32, 0)), log=lambda s: None)
  code, out = run_inspect(capsys, "--format", "synthetic", "--data-dir", str(root))
  assert code == 0, out
  assert "split train: 4 samples; sizes 32x32 (4)" in out and "split val: 2 samples" in out
