"""`train_and_evaluate` end to end on the tiny config and the real synthetic pipeline: what a run
writes, resuming bit-identically after a crash, after SIGTERM and after `kill -9` of `train.py`,
the non-finite guard, and refusing another model's checkpoint.

The reference run compiles the tiny model once (mesh driver, 4 CPU devices); the other in-process
runs reuse it, and the `train.py` children load it from the shared persistent compilation cache.
"""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from model_utils import load_config, set_dotted

from spade_jax.train import checkpoint as ckpt
from spade_jax.train import loop
from spade_jax.configs import common as settings
import train_utils as testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOTAL, EVERY = 24, 8
RUN_FLAGS = {"total_steps": TOTAL, "checkpoint_every_steps": EVERY, "log_every_steps": 4,
             "image_every_steps": 12, "keep_checkpoints": 2}


@pytest.fixture(scope="module", autouse=True)
def _xla_cache():
  with testing.compilation_cache():
    yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("synthetic_tiny"))


def make_config(data_dir, **overrides):
  c = settings.complete(load_config("spade/tiny"))
  c.data.data_dir = data_dir
  return set_dotted(c, {**RUN_FLAGS, **overrides})


def flat_host(state):
  return {k: np.asarray(v) for k, v in ckpt.flatten(jax.device_get(state)).items()}


def assert_identical(a: dict, b: dict):
  assert a.keys() == b.keys()
  diff = [k for k in a if not np.array_equal(a[k], b[k])]
  assert not diff, f"{len(diff)} arrays differ, e.g. {diff[:3]}"


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("reference"))
  r = loop.train_and_evaluate(make_config(data_dir), workdir)
  return workdir, r, flat_host(r.state)


class _Interrupting:
  """Wraps the training iterator: at the n-th `next` raise (a crash) or send a signal."""

  def __init__(self, it, at: int, action):
    self.it, self.at, self.action, self.n = it, at, action, 0

  def __iter__(self):
    return self

  def __next__(self):
    self.n += 1
    if self.n == self.at:
      self.action()
    return next(self.it)

  def get_state(self):
    return self.it.get_state()

  def set_state(self, s):
    self.it.set_state(s)


def _iterator(config):
  return loop.make_train_iterator(config, process_index=0, process_count=1)


def test_run_writes_metrics_tensorboard_samples_checkpoints(reference):
  workdir, r, _ = reference
  assert r.step == TOTAL and r.interrupted is None
  lines = [l for l in open(os.path.join(workdir, "metrics.jsonl"))]
  import json
  recs = [json.loads(l) for l in lines]
  assert [x["step"] for x in recs] == list(range(4, TOTAL + 1, 4))
  for k in ("GAN", "GAN_Feat", "KLD", "D_Fake", "D_real", "steps_per_s", "lr_G", "lr_D"):
    assert np.isfinite(recs[-1][k]), k
  assert recs[-1]["lr_G"] == pytest.approx(1e-4) and recs[-1]["lr_D"] == pytest.approx(4e-4)
  assert os.listdir(os.path.join(workdir, "tensorboard"))[0].startswith("events.out.tfevents")
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == ["samples_00000012.png",
                                                                 "samples_00000024.png"]
  from PIL import Image
  grid = np.asarray(Image.open(r.last_grid))
  assert grid.shape == (2 * 34 + 2, 3 * 34 + 2, 3)  # 2 rows of label | generated | real, 32 px
  assert sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))) == [16, 24]  # keep 2
  assert os.path.exists(os.path.join(workdir, "config.json"))


def test_crash_then_resume_is_bit_identical(reference, data_dir, tmp_path):
  _, _, want = reference
  c = make_config(data_dir)

  def crash():
    raise RuntimeError("simulated crash")

  with pytest.raises(RuntimeError, match="simulated crash"):
    loop.train_and_evaluate(c, str(tmp_path), data_iterator=_Interrupting(_iterator(c), 13, crash))
  r = loop.train_and_evaluate(c, str(tmp_path))  # resumes from checkpoint 8
  assert r.step == TOTAL
  assert_identical(flat_host(r.state), want)


def test_sigterm_saves_then_resume_is_bit_identical(reference, data_dir, tmp_path):
  _, _, want = reference
  c = make_config(data_dir)
  it = _Interrupting(_iterator(c), 11, lambda: os.kill(os.getpid(), signal.SIGTERM))
  r = loop.train_and_evaluate(c, str(tmp_path), data_iterator=it)
  assert r.interrupted == signal.SIGTERM and r.step == 11
  assert 11 in ckpt.Checkpointer(str(tmp_path), c).all_steps()  # saved at the step it stopped
  r = loop.train_and_evaluate(c, str(tmp_path))
  assert r.step == TOTAL
  assert_identical(flat_host(r.state), want)
  steps = [__import__("json").loads(l)["step"] for l in open(tmp_path / "metrics.jsonl")]
  assert steps == sorted(set(steps))  # no duplicated lines after the resume


def test_kill_9_of_train_py_then_resume_is_bit_identical(reference, data_dir, tmp_path):
  """A real `kill -9` of `python train.py` in the middle of the run, then the same command again."""
  _, _, want = reference
  workdir = str(tmp_path / "run")
  cmd = [sys.executable, "train.py", "--config", "configs/spade/tiny.py", "--workdir", workdir,
         f"--config.data.data_dir={data_dir}"] + [f"--config.{k}={v}" for k, v in RUN_FLAGS.items()]
  env = testing.subprocess_env(4)
  log = open(tmp_path / "first.log", "w")
  p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
  first = os.path.join(workdir, "checkpoints", str(EVERY))
  deadline = time.time() + 600
  while not os.path.isdir(first) and p.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  p.send_signal(signal.SIGKILL)
  p.wait()
  assert p.returncode == -signal.SIGKILL, open(tmp_path / "first.log").read()[-3000:]
  saved = ckpt.Checkpointer(workdir, make_config(data_dir)).all_steps()
  assert saved and max(saved) < TOTAL, saved  # killed in the middle
  second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
  assert second.returncode == 0, second.stderr[-3000:]
  assert "resumed from" in second.stderr
  # What a user sees: our lines only — no library INFO logs (absl "I1201 ..." lines, JAX's
  # "Unable to initialize backend 'tpu'", orbax's manager), and what the wait is for.
  out = second.stdout + second.stderr
  assert "Unable to initialize backend" not in out and "CheckpointManager" not in out
  assert not [l for l in out.splitlines() if l[:1] in "IW" and l[1:5].isdigit()], out[-2000:]
  assert "compiled the training step in" in second.stderr or "compiling the training step" not in second.stderr
  r = ckpt.Checkpointer(workdir, make_config(data_dir)).restore(jax.device_get(reference[1].state))
  assert r.step == TOTAL
  assert_identical(flat_host(r.state), want)


def test_non_finite_loss_stops_after_keeping_the_last_good_checkpoint(data_dir, tmp_path):
  c = make_config(data_dir, **{"data.name": "fake", "data.fake_nan_at_step": 9,
                               "image_every_steps": 0})
  with pytest.raises(loop.NonFiniteLossError) as e:
    loop.train_and_evaluate(c, str(tmp_path))
  msg = str(e.value)
  assert "step 10" in msg and "non-finite loss" in msg and f"checkpoints/{EVERY}" in msg
  assert "checksums" in msg and "train.lr" in msg and "dtype=float32" in msg
  assert ckpt.Checkpointer(str(tmp_path), c).all_steps() == [EVERY]


def test_checkpoint_of_another_model_is_refused(reference, data_dir):
  workdir, _, _ = reference
  c = make_config(data_dir, **{"model.ngf": 8, "model.num_D": 1})
  before = {n: open(os.path.join(workdir, n), "rb").read() for n in ("config.json", "metrics.jsonl")}
  with pytest.raises(ckpt.ConfigMismatchError) as e:
    loop.train_and_evaluate(c, workdir)
  assert "model.ngf (checkpoint 4, now 8)" in str(e.value) and "model.num_D" in str(e.value)
  # A refused run writes nothing into the workdir: the earlier run's config and metrics are intact.
  assert {n: open(os.path.join(workdir, n), "rb").read() for n in before} == before
