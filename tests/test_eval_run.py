"""`eval.py` metrics mode end to end: a checkpoint in a workdir (written directly, no training loop),
the tiny VAE model on the tiny synthetic dataset, a segmenter on disk and the real FID Inception.

Checks what the run writes (`eval/<step>/metrics.json` with FID, mIoU, accuracy, diversity and the
protocol; the generated images under the inputs' stems; the cached real-image statistics), that the
mIoU is the segmenter's score of the written images, and the clear errors for bad options.
"""

import hashlib
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from model_utils import load_config
from PIL import Image

from spade_jax.evaluate import segmentation as seg_lib
from spade_jax.evaluate.metrics import scores
from spade_jax.evaluate.nets.segmenter import UNetSegmenter
from spade_jax import models
from spade_jax.train import checkpoint as ckpt_lib
from spade_jax.configs import common as settings
import train_utils as testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP = 3
NC, SEG_WIDTH = 10, 8


def _sha256(path) -> str:
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory, fid_weights_path):
  root = tmp_path_factory.mktemp("eval_run")
  data_dir, workdir, seg_dir, cache = (str(root / n) for n in ("data", "work", "segmenter", "cache"))
  config = settings.complete(load_config("spade/tiny"))
  config.data.data_dir = data_dir
  state = models.build(config).init_state(jax.random.PRNGKey(0))
  ck = ckpt_lib.Checkpointer(workdir, config, async_save=False)
  ck.save(STEP, jax.device_get(state), None, force=True)
  ck.close()

  seg_vars = UNetSegmenter(NC, width=SEG_WIDTH).init(jax.random.key(1), np.zeros((1, 32, 32, 3), np.float32))
  seg_lib.save(seg_dir, seg_vars, {"num_classes": NC, "width": SEG_WIDTH, "real_val_miou": 0.5,
                                   "real_val_pixel_acc": 0.75})
  flags = [f"--config.data.data_dir={data_dir}", f"--config.eval.segmenter={seg_dir}",
           f"--config.eval.fid_weights={fid_weights_path}"]
  env = {**testing.subprocess_env(num_devices=1), "SPADE_JAX_CACHE": cache}

  def eval_py(*extra):
    return subprocess.run([sys.executable, "eval.py", "--config", "configs/spade/tiny.py", "--workdir", workdir,
                           *flags, *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)

  p = eval_py()
  assert p.returncode == 0, p.stderr[-4000:]
  return dict(config=config, workdir=workdir, seg_dir=seg_dir, cache=cache, eval_py=eval_py, proc=p,
              fid_weights=str(fid_weights_path))


def test_metrics_json_images_and_cache(run):
  out = os.path.join(run["workdir"], "eval", str(STEP))
  with open(os.path.join(out, "metrics.json")) as f:
    m = json.load(f)
  assert np.isfinite(m["fid"]) and m["fid"] > 0
  assert 0.0 <= m["miou"] <= 1.0 and 0.0 <= m["pixel_acc"] <= 1.0
  assert m["real_miou"] == 0.5 and m["real_pixel_acc"] == 0.75  # the segmenter's ceiling, reported
  assert m["diversity_l1"] > 0  # VAE: different z → different images
  assert m["num_images"] == 4
  p = m["protocol"]
  assert p["split"] == "val" and p["resolution"] == [32, 32] and p["images"] == 4 and p["step"] == STEP
  assert p["generation"].startswith("style-guided")
  assert p["weights_sha256"] == {"fid_inception": _sha256(run["fid_weights"]),
                                 "segmenter": _sha256(os.path.join(run["seg_dir"], "params.npz")),
                                 "style_classifier": None}  # no eval.style_classifier
  assert p["style"] is None and "style_accuracy" not in m
  assert p["config"]["model"]["ngf"] == 4
  images = sorted(os.listdir(os.path.join(out, "images")))
  assert len(images) == 4 and all(n.endswith(".png") for n in images)
  assert np.asarray(Image.open(os.path.join(out, "images", images[0]))).shape == (32, 32, 3)
  stats = os.listdir(os.path.join(run["cache"], "fid_stats"))
  assert len(stats) == 1 and stats[0].endswith("_32x32.npy")
  assert np.load(os.path.join(run["cache"], "fid_stats", stats[0])).shape == (4, 2048)
  assert "eval: FID" in run["proc"].stdout + run["proc"].stderr


def test_miou_is_the_segmenters_score_of_the_written_images(run):
  from spade_jax.data.pipeline import make_iterator
  from spade_jax.evaluate.loop import _val_names, _val_source
  out = os.path.join(run["workdir"], "eval", str(STEP))
  seg_vars, meta = seg_lib.load(run["seg_dir"])
  predict = seg_lib.make_predict(seg_vars, NC, SEG_WIDTH)
  names = _val_names(_val_source(run["config"]))
  conf = np.zeros((NC, NC), np.int64)
  for batch in make_iterator(run["config"], "val"):
    mask = np.asarray(batch["mask"], bool)
    imgs = np.stack([np.asarray(Image.open(os.path.join(out, "images", f"{names(i)}.png")))
                     for i in np.asarray(batch["index"])[mask]])
    conf += seg_lib.confusion(predict, [{"image": imgs.astype(np.float32) / 127.5 - 1.0,
                                         "label": np.asarray(batch["label"])[mask]}], NC)
  with open(os.path.join(out, "metrics.json")) as f:
    m = json.load(f)
  # PNGs are uint8; the harness segments the float images: allow a few flipped pixels.
  assert scores(conf)["pixel_acc"] == pytest.approx(m["pixel_acc"], abs=0.02)
  assert scores(conf)["miou"] == pytest.approx(m["miou"], abs=0.05)


@pytest.mark.parametrize("extra, message", [
    (["--step=99"], "no checkpoint for step 99"),
    (["--config.eval.segmenter=/nonexistent/seg"], "config.eval.segmenter: /nonexistent/seg does not exist"),
    (["--config.eval.fid_weights=/nonexistent/inception.pt"], "FID Inception weights not found at "
                                                               "/nonexistent/inception.pt"),
])
def test_bad_options_exit_2_with_one_message(run, extra, message):
  p = run["eval_py"](*extra)
  assert p.returncode == 2, p.stderr[-2000:]
  assert message in p.stderr and "Traceback" not in p.stderr
