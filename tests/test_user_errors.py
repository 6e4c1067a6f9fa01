"""A newcomer's mistakes: every user error is one line naming the file/option and the cause (exit 2,
traceback only with --verbose), a bug keeps its traceback, configs are checked before anything slow,
corrupt checkpoints are caught by their checksums, and a clone without ../shared runs green with a
one-line summary of what was skipped and why."""

import os
import pathlib
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from model_utils import load_config

from spade_jax import errors
from spade_jax.configs import validate
from spade_jax.gan.state import GANState
from spade_jax.train import checkpoint as ckpt

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(*args, env=None, timeout=300):
  e = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, env=e, timeout=timeout)


def _one_line_error(r, *needles):
  assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
  assert "Traceback" not in r.stderr, r.stderr[-2000:]
  lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
  for n in needles:
    assert n in lines[0], (n, lines[0])
  return lines[0]


# ----------------------------------------------------------------------------------------------
def test_clone_without_shared_skips_with_reasons_and_a_summary():
  env = {"SPADE_PARITY_DIR": "/nonexistent/parity", "SPADE_SHARED_DIR": "/nonexistent/shared"}
  env.pop("SPADE_REQUIRE_SHARED", None)
  e = {k: v for k, v in os.environ.items() if k != "SPADE_REQUIRE_SHARED"}
  r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                      "tests/test_official_parity.py", "tests/test_eval_cli.py"], cwd=REPO, capture_output=True,
                     text=True, env={**e, **env}, timeout=600)
  assert r.returncode == 0, r.stdout[-3000:]
  summary = [l for l in r.stdout.splitlines() if l.startswith("skipped ")]
  assert len(summary) == 1, r.stdout[-3000:]
  assert "not found at /nonexistent" in summary[0] and "SPADE_PARITY_DIR" in summary[0]


# ----------------------------------------------------------------------------------------------
def test_flag_errors_are_one_line():
  _one_line_error(_run("train.py", "--config", "configs/spade/tiny.py", "--workdir", "/tmp/x",
                       "--config.model.nfg=3"), "--config.model.nfg", "did you mean model.ngf")
  _one_line_error(_run("train.py", "--config", "configs/spade/tny.py", "--workdir", "/tmp/x"),
                  "configs/spade/tny.py: no such config file", "did you mean configs/spade/tiny.py")
  _one_line_error(_run("eval.py", "--mode", "synthesize"), "--labels and --out")


def test_config_checked_before_data_or_compilation(tmp_path):
  # A typo in a config file, with the nearest names.
  f = tmp_path / "mine.py"
  f.write_text("from spade_jax.configs.spade.tiny import get_config as base\n\n"
               "def get_config():\n  c = base()\n  c.model.nfg = 3\n  c.train.lr = -1.0\n  return c\n")
  t0 = time.time()
  line = _one_line_error(_run("train.py", "--config", str(f), "--workdir", str(tmp_path / "w")),
                         "unknown field model.nfg (did you mean model.ngf")
  # The VGG loss on without its weights file: refused before 40 s of dataset preparation.
  _one_line_error(_run("train.py", "--config", "configs/spade/folder.py", "--workdir", str(tmp_path / "w2"),
                       f"--config.data.data_dir={tmp_path}"), "train.no_vgg_loss=False needs train.vgg_weights")
  assert time.time() - t0 < 120
  assert not (tmp_path / "w").exists() and not (tmp_path / "w2").exists()
  del line


def test_config_problems_name_fields_ranges_and_combinations():
  c = load_config("spade/tiny")
  assert validate.problems(c) == []
  c.train.lr, c.train.beta2, c.train.lambda_feat = 0.0, 1.0, -1.0
  c.data.load_size, c.data.crop_size = 30, 32
  c.model.num_D, c.batch_size, c.dtype = 0, 0, "float16"
  p = validate.problems(c)
  for want in ("train.lr=0.0 must be positive", "train.beta2=1.0 must be in [0, 1)",
               "train.lambda_feat=-1.0 must be ≥ 0", "data.load_size=30 is below data.crop_size=32",
               "model.num_D=0 must be ≥ 1", "batch_size=0 must be positive", "dtype='float16'"):
    assert any(want in x for x in p), (want, p)
  d = load_config("spade/tiny").to_dict()  # a config file that builds its own dict (not type-safe)
  d["model"]["ngf"] = "16"
  assert validate.problems(ml_collections.ConfigDict(d)) == ["model.ngf='16' should be a int"]
  c = load_config("spade/tiny")
  c.data.label_nc = 5  # the synthetic landscapes have 10 classes
  assert any("below the synthetic dataset's 10 classes" in x for x in validate.problems(c))
  c = load_config("spade/tiny")
  c.family = "spadee"
  assert "did you mean 'spade'" in validate.problems(c)[0]
  with pytest.raises(errors.ConfigError, match="^config: "):
    validate.check(ml_collections.ConfigDict({**load_config("spade/tiny").to_dict(), "total_stpes": 3}))


def test_os_errors_are_one_line(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  _one_line_error(_run("train.py", "--config", "configs/spade/tiny.py", "--workdir", str(blocker)), str(blocker))
  assert blocker.read_text() == "not a directory"


def test_eval_on_a_missing_workdir_creates_nothing(tmp_path):
  w = tmp_path / "nope"
  _one_line_error(_run("eval.py", "--config", "configs/spade/tiny.py", "--workdir", str(w),
                       "--config.eval.fid_weights=/nonexistent.pt"), "nope")
  _one_line_error(_run("eval.py", "--config", "configs/spade/tiny.py", "--workdir", str(w)), str(w))
  assert not w.exists()


def test_verbose_shows_the_traceback():
  r = _run("train.py", "--config", "configs/spade/tiny.py", "--workdir", "/dev/null/x", "--verbose")
  assert r.returncode != 0 and "Traceback" in r.stderr


def test_user_errors_and_bugs_are_told_apart():
  def raise_here():
    raise ValueError("labels: id 7 is outside 0..4")  # our own check

  for exc_fn, user in ((raise_here, True), (lambda: np.zeros(3).reshape(2, 2), False),
                       (lambda: {}["x"], False), (lambda: open("/nonexistent/file"), True),
                       (lambda: (_ for _ in ()).throw(errors.ConfigError("config: x")), True)):
    try:
      exc_fn()
    except Exception as e:  # noqa: BLE001
      assert errors.is_user_error(e) is user or (exc_fn is raise_here), e
  # ValueErrors raised on purpose count only inside the package: this test file is not it.
  try:
    raise_here()
  except ValueError as e:
    assert not errors.is_user_error(e)
  from spade_jax.evaluate.synthesize import read_label_png
  try:
    read_label_png("/nonexistent.png", 5)
  except FileNotFoundError as e:
    assert errors.is_user_error(e) and "nonexistent.png" in errors.one_line(e)
  from spade_jax.data.cli import spec_from_args  # noqa: F401  (data tools share the boundary)
  with pytest.raises(SystemExit) as ex:
    with errors.boundary():
      read_label_png("/nonexistent.png", 5)
  assert ex.value.code == 2


# ----------------------------------------------------------------------------------------------
def _cfg():
  return ml_collections.ConfigDict({"model": {"ngf": 4}, "data": {"label_nc": 3, "crop_size": 32},
                                    "train": {"ema_decay": 0.0}, "total_steps": 10})


def _state(v=0.0):
  return GANState(step=jnp.int32(v), variables={"G": {"params": {"w": jnp.arange(4096.0) + v}}},
                  opt_state={"G": (jnp.zeros(2),)}, rng=jax.random.PRNGKey(1))


def _flip_bytes(step_dir: pathlib.Path):
  """Flips bytes in the middle of the largest array data file (size unchanged)."""
  files = [p for p in (step_dir / "state").rglob("*") if p.is_file() and "/d/" in str(p)]
  big = max(files, key=lambda p: p.stat().st_size)
  data = bytearray(big.read_bytes())
  for i in range(len(data) // 2, len(data) // 2 + 64):
    data[i] ^= 0xFF
  big.write_bytes(bytes(data))


def test_flipped_bytes_are_caught_and_the_previous_checkpoint_is_used(tmp_path, caplog):
  c = ckpt.Checkpointer(str(tmp_path), _cfg(), keep=5, async_save=False)
  for s in (2, 4):
    c.save(s, _state(s), {"pos": s})
  c.close()
  assert (tmp_path / "checkpoints" / "4" / "checksums").is_dir()
  _flip_bytes(tmp_path / "checkpoints" / "4")
  import logging
  with caplog.at_level(logging.WARNING, logger="spade_jax.train"):
    r = ckpt.Checkpointer(str(tmp_path), _cfg()).restore(_state())
  assert r.step == 2 and r.data_state == {"pos": 2}
  np.testing.assert_array_equal(r.state.variables["G"]["params"]["w"], np.arange(4096.0) + 2)
  lines = [rec.getMessage() for rec in caplog.records]
  assert len(lines) == 1 and "checkpoints/4 is unreadable" in lines[0] and "set aside" in lines[0]
  assert len(lines[0]) < 400 and "source locations" not in lines[0]
  assert sorted(os.listdir(tmp_path / "checkpoints_unreadable"))[0].startswith("4.")
  # Asking for that step explicitly (eval.py --step) says what is wrong with it.
  c = ckpt.Checkpointer(str(tmp_path), _cfg(), keep=5, async_save=False)
  c.save(6, _state(6), None)
  c.close()
  _flip_bytes(tmp_path / "checkpoints" / "6")
  with pytest.raises(Exception) as e:
    ckpt.Checkpointer(str(tmp_path), _cfg()).restore_step(6, _state())
  assert errors.is_user_error(e.value) or isinstance(e.value, ckpt.ChecksumError)
