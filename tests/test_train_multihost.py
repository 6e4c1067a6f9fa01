"""Multi-host: two `train.py` processes on localhost (2 CPU devices each, `jax.distributed` with gloo
collectives) train the tiny model for a few steps. They must write one consistent checkpoint per
step (one state, each process's data position, metrics from process 0 only) and match a 1-process,
4-device run of the same global batches: the state after the first step to float32 reduction noise
(see `testing.assert_same_new_state`), the losses of every step.

Beyond the first step, reduction-order noise is amplified (Adam's sign-like first updates of
parameters with noise-level gradients): after 3 steps the losses still agree to ~1%, states do
not agree elementwise, which is why the state is compared after one step.

Fake data (`data.name=fake`) makes global batch k the same for any process count; the real
pipeline instead shards records per process (tested in tests/data/).
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from model_utils import load_config, set_dotted

from spade_jax.train import checkpoint as ckpt
from spade_jax.train import loop
from spade_jax.configs import common as settings
import train_utils as testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 3
FLAGS = {"data.name": "fake", "total_steps": STEPS, "checkpoint_every_steps": 1, "log_every_steps": 1,
         "image_every_steps": 0, "keep_checkpoints": STEPS}
LR_MAX = 4e-4


@pytest.fixture(scope="module", autouse=True)
def _xla_cache():
  with testing.compilation_cache():
    yield


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _config():
  return set_dotted(settings.complete(load_config("spade/tiny")), FLAGS)


def test_two_processes_write_one_checkpoint_matching_one_process(tmp_path):
  workdir = str(tmp_path / "two")
  port = _free_port()
  # Their own persistent compilation cache: an executable cached by the 1-process, 4-device run below
  # has the same cache key (same HLO, device ids 0-3) but no cross-process collectives; loaded by a
  # 2-process run it deadlocks (observed with jax 0.12 on CPU/gloo).
  env = testing.subprocess_env(num_devices=2, cache_dir=str(tmp_path / "xla_cache_2_processes"))
  procs = []
  for pid in range(2):
    cmd = [sys.executable, "train.py", "--config", "configs/spade/tiny.py", "--workdir", workdir,
           "--config.distributed.initialize=yes",
           f"--config.distributed.coordinator_address=localhost:{port}",
           "--config.distributed.num_processes=2", f"--config.distributed.process_id={pid}"]
    cmd += [f"--config.{k}={v}" for k, v in FLAGS.items()]
    log = open(tmp_path / f"process_{pid}.log", "w")
    procs.append((subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log))

  # Meanwhile: the same run as one process on this test's 4 devices.
  one = str(tmp_path / "one")
  ref = loop.train_and_evaluate(_config(), one)
  template = jax.device_get(ref.state)

  for pid, (p, log) in enumerate(procs):
    try:
      p.wait(timeout=900)
    finally:
      if p.poll() is None:
        p.kill()
      log.close()
    assert p.returncode == 0, open(tmp_path / f"process_{pid}.log").read()[-4000:]

  root = os.path.join(workdir, "checkpoints")
  assert sorted(int(s) for s in os.listdir(root)) == list(range(1, STEPS + 1))  # no stray directories
  for step in range(1, STEPS + 1):
    assert sorted(os.listdir(os.path.join(root, str(step), "data"))) == [
        "commit_success.txt", "process_0-of-2.json", "process_1-of-2.json"]
    for pid in range(2):
      with open(os.path.join(root, str(step), "data", f"process_{pid}-of-2.json")) as f:
        assert json.load(f) == {"step": step}  # each process's fake-data position
  two_metrics = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  one_metrics = [json.loads(line) for line in open(os.path.join(one, "metrics.jsonl"))]
  assert [m["step"] for m in two_metrics] == list(range(1, STEPS + 1))  # written once, by process 0
  for a, b in zip(two_metrics, one_metrics):
    rel = 1e-4 if a["step"] == 1 else 2e-2
    for k in ("GAN", "GAN_Feat", "KLD", "D_Fake", "D_real"):
      assert a[k] == pytest.approx(b[k], rel=rel, abs=1e-4), (a["step"], k)

  # The state after step 1, restored from each run's checkpoint.
  two_1 = ckpt.Checkpointer(workdir, _config()).restore_step(1, template)
  one_1 = ckpt.Checkpointer(one, _config()).restore_step(1, template)
  testing.assert_same_new_state(two_1, one_1, "2 processes vs 1", LR_MAX)
