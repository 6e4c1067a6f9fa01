"""SinGAN end to end on a tiny photo: the resumable trainer and every command of
`python -m spade_jax.models.singan.cli`, plus their one-line errors (exit status 2)."""

import os

import numpy as np
import pytest
from PIL import Image

from spade_jax.models.singan import cli, store, trainer
from spade_jax.models.singan.config import Hyper
from spade_jax.models.singan.image import read_image

TRAIN = ["--max_size", "24", "--min_size", "14", "--nfc", "4", "--min_nfc", "4", "--niter", "4",
         "--epochs_per_call", "2", "--unroll", "0", "--seed", "3"]


def _photo(path, h=22, w=26):
  yy, xx = np.mgrid[0:h, 0:w]
  rgb = np.stack([128 + 100 * np.sin(xx / 3.0), 128 + 90 * np.cos(yy / 4.0), 100 + 80 * np.sin((xx + yy) / 5.0)], -1)
  Image.fromarray(rgb.astype(np.uint8)).save(path)
  return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  d = tmp_path_factory.mktemp("singan")
  photo = _photo(d / "photo.png")
  work = d / "run"
  # Stop after 3 epochs (mid scale 0), then resume with the command: same result as one go.
  hp = Hyper(niter=4, unroll=False)
  trainer.train(read_image(photo), str(work), hp, min_size=14, max_size=24, nfc=4, min_nfc=4, seed=3,
                epochs_per_call=2, stop_after=3, log=lambda s: None)
  assert store.load_progress(str(work))[0] == 0
  with pytest.raises(ValueError, match="only 0 of 3 scales are trained"):
    cli.run(["sample", "--workdir", str(work)])
  assert cli.main(["train", "--photo", str(photo), "--workdir", str(work)] + TRAIN) == 0
  assert store.load_progress(str(work)) is None
  return d, photo, work


def test_resume_equals_one_run(trained, tmp_path):
  d, photo, work = trained
  assert cli.main(["train", "--photo", str(photo), "--workdir", str(tmp_path / "one")] + TRAIN) == 0
  a, b = store.load_pyramid(str(work)), store.load_pyramid(str(tmp_path / "one"))
  assert a.trained == b.trained == a.layout.num_scales == 3
  for x, y in zip(a.Gs, b.Gs):
    for u, v in zip(np.asarray(x["params"]["tail"]["kernel"]).ravel(), np.asarray(y["params"]["tail"]["kernel"]).ravel()):
      assert u == v
  np.testing.assert_array_equal(a.Zs[0], b.Zs[0])
  assert a.amps[1] == b.amps[1] and a.amps[0] == 1
  # Other options than the workdir's are refused.
  assert cli.main(["train", "--photo", str(photo), "--workdir", str(work)] + TRAIN[:-2] + ["--seed", "4"]) == 2


def test_commands(trained, capsys):
  d, photo, work = trained
  pyr = store.load_pyramid(str(work))
  h, w = pyr.reals[-1].shape[1:3]
  out = d / "out"
  assert cli.main(["sample", "--workdir", str(work), "--num", "3", "--out", str(out / "s")]) == 0
  files = sorted(os.listdir(out / "s"))
  assert files == ["0.png", "1.png", "2.png"]
  a0, a1 = np.asarray(Image.open(out / "s" / "0.png")), np.asarray(Image.open(out / "s" / "1.png"))
  assert a0.shape == (h, w, 3) and np.abs(a0.astype(int) - a1).max() > 0
  assert cli.main(["sample", "--workdir", str(work), "--num", "1", "--scale_h", "1.5", "--out", str(out / "wide")]) == 0
  wide = np.asarray(Image.open(out / "wide" / "0.png"))
  assert wide.shape[0] == h and wide.shape[1] > w
  assert cli.main(["sample", "--workdir", str(work), "--num", "2", "--start-scale", "1", "--out", str(out / "g")]) == 0
  # paint2image (plain and quantized), harmonization, editing.
  paint = np.zeros((22, 26, 3), np.uint8)
  paint[:, :13] = (200, 40, 40)
  paint[:, 13:] = (40, 40, 200)
  Image.fromarray(paint).save(d / "paint.png")
  mask = np.zeros((22, 26, 3), np.uint8)
  mask[6:14, 8:16] = 255
  Image.fromarray(mask).save(d / "mask.png")
  for args in (["paint2image", "--paint", str(d / "paint.png"), "--start-scale", "1"],
               ["paint2image", "--paint", str(d / "paint.png"), "--start-scale", "2", "--quantize"],
               ["harmonize", "--inject", str(d / "paint.png"), "--mask", str(d / "mask.png"), "--start-scale", "1"],
               ["edit", "--inject", str(d / "paint.png"), "--mask", str(d / "mask.png"), "--start-scale", "2",
                "--radius", "4"],
               ["sr", "--factor", "2"],
               ["animate", "--frames", "5", "--start-scale", "1"]):
    capsys.readouterr()
    assert cli.main(args + ["--workdir", str(work), "--out", str(out / args[0])]) == 0, args
    printed = capsys.readouterr().out.split()
    assert printed and all(os.path.isfile(p) for p in printed)
  assert len(os.listdir(out / "harmonize")) == 2
  hr = np.asarray(Image.open(out / "sr" / "HR_x2.png"))
  assert hr.shape == (int(2 * h), int(2 * w), 3)
  gif = Image.open(next((out / "animate").iterdir()))
  assert gif.n_frames == 5 and gif.size == (w, h)


def test_bad_inputs(trained, tmp_path, capsys):
  d, photo, work = trained
  grey = tmp_path / "grey.png"
  Image.fromarray(np.zeros((30, 30), np.uint8)).save(grey)
  small = _photo(tmp_path / "small.png", 12, 14)
  big_mask = tmp_path / "m.png"
  Image.fromarray(np.zeros((10, 40, 3), np.uint8)).save(big_mask)
  cases = [
      (["train", "--photo", str(grey), "--workdir", str(tmp_path / "w1")] + TRAIN, "grey.png: greyscale"),
      (["train", "--photo", str(small), "--workdir", str(tmp_path / "w2")] + TRAIN, "must exceed min_size=14"),
      (["train", "--photo", str(tmp_path / "nope.png"), "--workdir", str(tmp_path / "w3")] + TRAIN, "no such file"),
      (["sample", "--workdir", str(tmp_path)], "no trained SinGAN pyramid"),
      (["paint2image", "--workdir", str(work), "--paint", str(photo), "--start-scale", "3"],
       "--start-scale=3 is outside the valid range 1..2"),
      (["harmonize", "--workdir", str(work), "--inject", str(photo), "--mask", str(big_mask), "--start-scale", "1"],
       "--mask is 10x40"),
      (["paint2image", "--workdir", str(work), "--paint", str(big_mask), "--start-scale", "1"],
       "aspect ratio differs"),
      (["sample", "--workdir", str(work), "--start-scale", "5"], "outside the valid range 0..2"),
      (["edit", "--workdir", str(work), "--inject", str(photo), "--mask", str(photo), "--start-scale", "1"],
       "radius 20 it covers the whole"),
  ]
  for argv, msg in cases:
    before = sorted(os.listdir(tmp_path))
    capsys.readouterr()
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and msg in err, (argv, err)
    assert sorted(os.listdir(tmp_path)) == before or argv[0] == "train"
  assert not (tmp_path / "w1").exists() and not (tmp_path / "w2").exists()
