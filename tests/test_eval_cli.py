"""`eval.py --mode synthesize` on an official checkpoint (written here from the parity fixture)."""

import collections
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from spade_jax.evaluate.synthesis_cli import synthesize_files
from spade_jax.models.spade import SPADEFamily
from model_utils import find_fixture
from torch_writer import tensor, write_zip

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def official(tmp_path_factory):
  stem = find_fixture(["G/conv_img.weight", "input/label_map", "input/instance_map", "eval/fake_image"])
  meta = json.loads(stem.with_suffix(".json").read_text())
  with np.load(stem.with_suffix(".npz")) as f:
    arrays = {k: f[k] for k in f.files}
  d = tmp_path_factory.mktemp("official")
  (d / "opt.txt").write_text("".join(f"{k:>30}: {v}\n" for k, v in meta["options"].items()))
  write_zip(d / "latest_net_G.pth", collections.OrderedDict(
      (k[2:], tensor(v)) for k, v in arrays.items() if k.startswith("G/")))
  (d / "labels").mkdir()
  (d / "instances").mkdir()
  for i in range(2):
    Image.fromarray(arrays["input/label_map"][i, 0].astype(np.uint8), mode="L").save(d / "labels" / f"img{i}.png")
    Image.fromarray(arrays["input/instance_map"][i, 0].astype(np.uint8), mode="L").save(d / "instances" / f"img{i}.png")
  return d, arrays


def _run(*args):
  return subprocess.run([sys.executable, str(REPO / "eval.py"), *args], capture_output=True, text=True,
                        cwd=REPO, timeout=600)


def test_synthesize_cli_reproduces_the_official_eval_forward(official, tmp_path):
  d, arrays = official
  out = tmp_path / "out"
  r = _run("--mode", "synthesize", "--labels", str(d / "labels"), "--instances", str(d / "instances"),
           "--out", str(out), "--official-checkpoint", str(d / "latest_net_G.pth"),
           "--official-options", str(d / "opt.txt"))
  assert r.returncode == 0, r.stderr[-2000:]
  assert "[2/2]" in r.stdout
  for i in range(2):
    got = np.asarray(Image.open(out / f"img{i}.png"), np.int32)
    ref = np.clip((arrays["eval/fake_image"][i].transpose(1, 2, 0) + 1) / 2 * 255, 0, 255).astype(np.int32)
    assert np.abs(got - ref).max() <= 1
  # a second run refuses to overwrite, exit code 2 and one line naming the file
  r = _run("--mode", "synthesize", "--labels", str(d / "labels"), "--instances", str(d / "instances"),
           "--out", str(out), "--official-checkpoint", str(d / "latest_net_G.pth"),
           "--official-options", str(d / "opt.txt"))
  assert r.returncode == 2 and "img0.png exists; pass --overwrite" in r.stderr
  assert "Traceback" not in r.stderr
  # Without --instances, a model with instance edges uses the class boundaries, and says so.
  r = _run("--mode", "synthesize", "--labels", str(d / "labels"), "--out", str(tmp_path / "noinst"),
           "--official-checkpoint", str(d / "latest_net_G.pth"), "--official-options", str(d / "opt.txt"))
  assert r.returncode == 0, r.stderr[-2000:]
  assert "note: this model uses instance edges and no --instances were given" in r.stdout
  assert sorted(p.name for p in (tmp_path / "noinst").iterdir()) == ["img0.png", "img1.png"]


def test_synthesize_bad_inputs(official, tmp_path):
  d, arrays = official
  model, variables = SPADEFamily.load_official(str(d / "latest_net_G.pth"), str(d / "opt.txt"))
  bad = tmp_path / "bad"
  bad.mkdir()
  Image.fromarray(np.full((64, 64), 7, np.uint8), mode="L").save(bad / "x.png")
  with pytest.raises(ValueError, match=r"x.png: label id 7 is outside 0..4"):
    synthesize_files(model, variables, str(bad), str(tmp_path / "o"), instance_from_label=True)
  Image.fromarray(np.zeros((32, 64), np.uint8), mode="L").save(bad / "x.png")
  with pytest.raises(ValueError, match=r"x.png: size 32x64 \(HxW\) does not match the model's 64x64"):
    synthesize_files(model, variables, str(bad), str(tmp_path / "o"), instance_from_label=True)
  with pytest.raises(ValueError, match="pass --instances DIR, or --instance-from-label"):
    synthesize_files(model, variables, str(d / "labels"), str(tmp_path / "o"))
  with pytest.raises(FileNotFoundError, match="nowhere: no such label file or directory"):
    synthesize_files(model, variables, str(tmp_path / "nowhere"), str(tmp_path / "o"))
  with pytest.raises(ValueError, match="--num-samples > 1 needs a multimodal"):
    synthesize_files(model, variables, str(d / "labels"), str(tmp_path / "o"), num_samples=3)
  with pytest.raises(ValueError, match="--style needs a model with a style encoder; this one takes: label, "
                                       "instance"):
    synthesize_files(model, variables, str(d / "labels"), str(tmp_path / "o"), style="s.png")
  assert not (tmp_path / "o").exists()  # nothing was written
