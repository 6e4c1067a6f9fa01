"""SinGAN through the training engine: `train_and_evaluate` on `configs/singan/tiny.py` trains every
scale as a stage (checkpoints under scale_<n>/), writes the pyramid the commands read, and a second
call finds it finished."""

import os

import numpy as np
from model_utils import load_config

from spade_jax.models.singan import cli, store
from spade_jax.train import loop


def test_train_py_path_and_commands(tmp_path):
  config = load_config("singan/tiny")
  work = str(tmp_path / "run")
  r = loop.train_and_evaluate(config, work)
  pyr = store.load_pyramid(work)
  assert pyr.trained == pyr.layout.num_scales == 3
  assert sorted(d for d in os.listdir(work) if d.startswith("scale_")) == ["scale_0", "scale_1", "scale_2"]
  assert r.step == config.train.niter // config.train.epochs_per_step
  assert pyr.amps[0] == 1 and 0 < pyr.amps[1] < 1
  assert np.asarray(pyr.Zs[0]).std() > 0.5 and not np.asarray(pyr.Zs[1]).any()
  # A finished workdir: the same command trains nothing and keeps the pyramid.
  before = os.path.getmtime(os.path.join(work, store.SCALES))
  loop.train_and_evaluate(config, work)
  assert os.path.getmtime(os.path.join(work, store.SCALES)) == before
  assert cli.main(["sample", "--workdir", work, "--num", "2", "--out", str(tmp_path / "s")]) == 0
  assert sorted(os.listdir(tmp_path / "s")) == ["0.png", "1.png"]


def test_check_config():
  from spade_jax import models
  cls = models.get("singan")
  assert cls.check_config(load_config("singan/tiny")) == []
  c = load_config("singan/default")
  c.data.scale_factor = 1.2
  c.train.epochs_per_step = 3
  problems = cls.check_config(c)
  assert any(p.startswith("data.image is empty") for p in problems)
  assert "data.scale_factor=1.2 must lie in (0, 1)" in problems
  assert "train.epochs_per_step=3 must divide train.niter=2000" in problems
  assert not any(p.startswith("data.image") for p in cls.check_config(c, training=False))
