"""Training pieces that need no model compile: settings, schedules, checkpoints (keep-N, config
mismatch, corrupt / partial fallback), fake data, logs (grid, JSONL, TensorBoard), distributed."""

import json
import logging
import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from model_utils import load_config

from spade_jax.train import checkpoint as ckpt
from spade_jax.train import distributed, logs
from spade_jax.configs import common as settings
from spade_jax.data.fake import FakeIterator
from spade_jax.gan.state import GANState
from spade_jax.models.spade.step import learning_rates, schedules


def test_configs_have_required_fields():
  for name in ("synthetic", "tiny", "folder", "cityscapes", "ade20k", "coco_stuff"):
    c = settings.complete(load_config(f"spade/{name}"))
    for f in ("total_steps", "batch_size", "data.name", "data.data_dir", "model.norm",
              "log_every_steps", "checkpoint_every_steps", "train.ema_decay", "parallel"):
      node = c
      for part in f.split("."):
        assert part in node, f"{name}: {f} missing"
        node = node[part]
  c = load_config("spade/synthetic")
  assert c.data.name == "synthetic" and c.train.no_vgg_loss  # VGG weights are a user file
  assert load_config("spade/cityscapes").model.num_upsampling_layers == "more"


def test_complete_keeps_existing_values():
  c = ml_collections.ConfigDict({"train": {"ema_decay": 0.5}, "log_every_steps": 7})
  out = settings.complete(c)
  assert out.train.ema_decay == 0.5 and out.log_every_steps == 7
  assert out.distributed.initialize == "auto" and out.parallel == "mesh"


def test_official_learning_rates_and_linear_decay():
  c = load_config("spade/tiny")
  c.train.lr = 2e-4
  assert learning_rates(c) == (1e-4, 4e-4)
  c.total_steps, c.train.niter_decay_steps = 100, 40
  g, d = schedules(c)
  assert float(g(0)) == pytest.approx(1e-4) and float(g(60)) == pytest.approx(1e-4)
  assert float(g(80)) == pytest.approx(0.5e-4) and float(d(100)) == pytest.approx(0.0, abs=1e-12)
  c.train.no_TTUR = True
  assert learning_rates(c) == (2e-4, 2e-4)


# ----------------------------------------------------------------------------------------------
def _cfg(ngf=4):
  return ml_collections.ConfigDict({"model": {"ngf": ngf, "norm": "spade"},
                                    "data": {"label_nc": 3, "crop_size": 32, "data_dir": "/x"},
                                    "train": {"ema_decay": 0.0, "lr": 1e-3}, "total_steps": 10})


def _state(v=0.0):
  return GANState(step=jnp.int32(v), variables={"G": {"params": {"w": jnp.full((3,), v)}}},
                  opt_state={"G": (jnp.zeros(2),), "D": ()}, rng=jax.random.PRNGKey(1))


def test_checkpoint_roundtrip_and_keep_n(tmp_path):
  c = ckpt.Checkpointer(str(tmp_path), _cfg(), keep=2)
  for s in (2, 4, 6):
    c.save(s, _state(s), {"pos": s})
  c.wait()
  assert c.all_steps() == [4, 6]
  r = c.restore(_state())
  assert r.step == 6 and int(r.state.step) == 6 and r.data_state == {"pos": 6}
  np.testing.assert_array_equal(r.state.variables["G"]["params"]["w"], np.full(3, 6.0))
  assert r.config["model"]["ngf"] == 4
  c.close()
  # Another run's non-model settings (lr, paths, steps) do not block resuming.
  other = _cfg()
  other.train.lr, other.total_steps, other.data.data_dir = 5e-4, 99, "/y"
  assert ckpt.Checkpointer(str(tmp_path), other).restore(_state()).step == 6


def test_checkpoint_of_another_model_is_refused(tmp_path):
  c = ckpt.Checkpointer(str(tmp_path), _cfg(ngf=4))
  c.save(1, _state(1), None)
  c.close()
  bad = _cfg(ngf=8)
  bad.data.label_nc = 5
  with pytest.raises(ckpt.ConfigMismatchError) as e:
    ckpt.Checkpointer(str(tmp_path), bad).restore(_state())
  assert "model.ngf (checkpoint 4, now 8)" in str(e.value)
  assert "data.label_nc (checkpoint 3, now 5)" in str(e.value)
  # A given step (eval.py --step) is checked the same way; without a config it is read as it is.
  with pytest.raises(ckpt.ConfigMismatchError, match=r"/1 was written by another model .*model.ngf"):
    ckpt.Checkpointer(str(tmp_path), bad).restore_step(1, _state(), bad.to_dict())
  assert int(ckpt.Checkpointer(str(tmp_path), bad).restore_step(1, _state()).step) == 1


def test_corrupt_or_partial_latest_falls_back(tmp_path, caplog):
  c = ckpt.Checkpointer(str(tmp_path), _cfg(), keep=5)
  for s in (2, 4, 6):
    c.save(s, _state(s), {"pos": s})
  c.close()
  root = tmp_path / "checkpoints"
  shutil.rmtree(root / "6" / "state" / "d")  # the array data of the newest one is gone
  (root / "8").mkdir()  # a step directory left half-written
  (root / "9.orbax-checkpoint-tmp-123").mkdir()  # an unfinished orbax save: ignored
  with caplog.at_level(logging.WARNING, logger="spade_jax.train"):
    r = ckpt.Checkpointer(str(tmp_path), _cfg()).restore(_state())
  assert r.step == 4 and r.data_state == {"pos": 4}
  text = caplog.text
  assert "checkpoints/8 is unreadable" in text and "checkpoints/6 is unreadable" in text
  assert sorted(os.listdir(tmp_path / "checkpoints_unreadable"))[0].startswith("6.")
  # The unreadable steps were moved aside: they can be written again.
  c = ckpt.Checkpointer(str(tmp_path), _cfg(), keep=5)
  assert c.save(6, _state(6), None)
  c.close()


def test_no_readable_checkpoint_is_an_error(tmp_path):
  (tmp_path / "checkpoints" / "3").mkdir(parents=True)
  with pytest.raises(ckpt.NoUsableCheckpointError, match="could be read"):
    ckpt.Checkpointer(str(tmp_path), _cfg()).restore(_state())


def test_flatten_roundtrip_and_mismatch():
  s = _state(3)
  flat = ckpt.flatten(s)
  assert "variables.G.params.w" in flat and "rng" in flat
  back = ckpt.unflatten(_state(), flat)
  assert int(back.step) == 3
  flat.pop("rng")
  with pytest.raises(ckpt.ConfigMismatchError, match="missing"):
    ckpt.unflatten(_state(), flat)


# ----------------------------------------------------------------------------------------------
def test_fake_data_is_the_same_global_batch_for_any_process_count():
  c = load_config("spade/tiny")
  c.data.name = "fake"
  one = FakeIterator(c, process_index=0, process_count=1)
  halves = [FakeIterator(c, process_index=p, process_count=2) for p in range(2)]
  for _ in range(2):
    full = next(one)
    parts = [next(h) for h in halves]
    np.testing.assert_array_equal(full["image"], np.concatenate([p["image"] for p in parts]))
    assert full["label"].max() < c.data.label_nc and full["label"].shape == (4, 32, 32)
  st = one.get_state()
  a = next(one)
  one.set_state(st)
  np.testing.assert_array_equal(a["label"], next(one)["label"])
  c.data.fake_nan_at_step = 1
  it = FakeIterator(c)
  assert np.isfinite(next(it)["image"]).all() and np.isnan(next(it)["image"]).all()


def test_image_grid_and_palette():
  c = load_config("spade/tiny")
  pal = logs.palette(c)
  assert pal.shape == (11, 3) and (pal[-1] == 0).all()
  lab = np.zeros((2, 8, 8), np.int32)
  fake = np.full((2, 8, 8, 3), -1.0)
  real = np.ones((2, 8, 8, 3))
  g = logs.image_grid(lab, fake, real, pal, pad=2)
  assert g.shape == (2 * 10 + 2, 3 * 10 + 2, 3) and g.dtype == np.uint8
  assert (g[2:10, 12:20] == 0).all() and (g[2:10, 22:30] == 255).all()
  assert logs.label_colormap(4)[1].tolist() == [128, 0, 0]


def test_logs_jsonl_tensorboard_and_resume_truncation(tmp_path):
  lg = logs.Logs(str(tmp_path))
  for s in (2, 4, 6):
    lg.scalars(s, {"GAN": 1.0 * s, "D_real": float("nan")})
  lg.grid(6, np.zeros((4, 6, 3), np.uint8))
  lg.close()
  lines = [json.loads(x) for x in open(tmp_path / "metrics.jsonl")]
  assert [x["step"] for x in lines] == [2, 4, 6] and lines[0]["D_real"] == "nan"
  assert os.listdir(tmp_path / "samples") == ["samples_00000006.png"]
  events = os.listdir(tmp_path / "tensorboard")
  assert events and events[0].startswith("events.out.tfevents")
  lg = logs.Logs(str(tmp_path))
  lg.truncate_after(4)
  assert [json.loads(x)["step"] for x in open(tmp_path / "metrics.jsonl")] == [2, 4]


def test_progress_line():
  line = logs.format_progress(50, 200, 2.0, {"GAN": 0.5, "D_real": 1.25, "x": 3})
  assert line.startswith(" 50/200 [#####") and "2.00 steps/s" in line and "ETA 01:15" in line
  assert "GAN 0.500" in line and "D_real 1.250" in line and "x " not in line


def test_distributed_initialisation_rules():
  c = settings.complete(ml_collections.ConfigDict())
  assert not distributed.should_initialize(c, env={})
  assert distributed.should_initialize(c, env={"JAX_COORDINATOR_ADDRESS": "h:1"})
  assert distributed.should_initialize(c, env={"SLURM_NTASKS": "2", "SLURM_JOB_ID": "7"})
  assert not distributed.should_initialize(c, env={"SLURM_NTASKS": "1", "SLURM_JOB_ID": "7"})
  assert distributed.should_initialize(c, env={"TPU_WORKER_HOSTNAMES": "a,b"})
  c.distributed.coordinator_address = "localhost:1234"
  assert distributed.should_initialize(c, env={})
  c.distributed.initialize = "no"
  assert not distributed.should_initialize(c, env={"JAX_COORDINATOR_ADDRESS": "h:1"})
  c.distributed.initialize = "maybe"
  with pytest.raises(ValueError):
    distributed.should_initialize(c, env={})
