"""Generator variables for inference from a training workdir: the EMA weights when the run kept them,
with BN statistics re-estimated on a few training batches (as the training loop does for samples)."""

from __future__ import annotations

import os
from typing import Optional

import jax
import numpy as np

from spade_jax.models.spade import SPADEModel
from spade_jax.train import checkpoint as ckpt_lib
from spade_jax.train import ema as ema_lib
from spade_jax.train import settings
from spade_jax.train.state import create_train_state


def restore_state(config, workdir: str, step: Optional[int] = None):
  """→ (model, TrainState on the host, step). The newest readable checkpoint unless `step` is given."""
  config = settings.complete(config)
  model = SPADEModel(config)
  template = jax.eval_shape(lambda: create_train_state(model, jax.random.PRNGKey(0)))
  ckpt = ckpt_lib.Checkpointer(workdir, config, async_save=False)
  try:
    steps = ckpt.all_steps()
    if not steps:
      raise FileNotFoundError(f"no checkpoint in {os.path.join(os.path.abspath(workdir), 'checkpoints')}")
    if step is None:
      restored = ckpt.restore(template, config.to_dict())
      return model, restored.state, restored.step
    if step not in steps:
      raise FileNotFoundError(f"no checkpoint for step {step} in {ckpt.directory} (have {steps})")
    return model, ckpt.restore_step(step, template, config.to_dict()), step
  finally:
    ckpt.close()


def load_for_inference(config, workdir: str, step: Optional[int] = None, *, bn_batches: Optional[int] = None,
                       log=print, return_step: bool = False):
  """(model, {"G", ["E"]} variables[, step]): EMA params with re-estimated BN statistics when available."""
  model, state, step = restore_state(config, workdir, step)
  variables = ema_lib.ema_variables(state.variables, state.ema)
  k = int(model.config.train.get("ema_bn_batches", 4) if bn_batches is None else bn_batches)
  if state.ema is not None and k > 0:
    from spade_jax.data.pipeline import make_iterator
    it = make_iterator(model.config, "train", process_index=0, process_count=1)
    keys = ("image", "label", "instance")
    batches = [next(it) for _ in range(k)]
    stacked = {key: np.stack([b[key] for b in batches]) for key in keys}
    variables = jax.jit(lambda v, b, r: ema_lib.reestimate(model, v, b, r))(variables, stacked, jax.random.PRNGKey(step))
    log(f"restored step {step}: EMA generator, BN statistics re-estimated on {k} training batches")
  else:
    log(f"restored step {step}: {'live' if state.ema is None else 'EMA'} generator")
  return (model, variables, step) if return_step else (model, variables)


def evaluate(config, workdir: str, step: Optional[int] = None, **kwargs) -> dict:
  """`eval.py` metrics mode: `<workdir>/eval/<step>/metrics.json` + images."""
  from spade_jax.evaluate.loop import evaluate_generator
  e = config.get("eval", {})
  seg = e.get("segmenter", "") or None
  if seg and not os.path.exists(seg):  # before the slow restore: fail fast, name the option
    raise FileNotFoundError(f"config.eval.segmenter: {seg} does not exist (a U-Net directory, or a "
                            f"DeepLabV2 .pth/.npz file: see the README); train the synthetic "
                            f"segmenter with `python -m spade_jax.evaluate.segmentation --config CONFIG "
                            f"--out {seg}`, or set --config.eval.segmenter='' to skip mIoU")
  kwargs = {"segmenter_dir": seg, "fid_weights": e.get("fid_weights", "") or None,
            "diversity_samples": int(e.get("diversity_samples", 2)),
            "save_images": bool(e.get("save_images", True)), **kwargs}
  from spade_jax.models.inception import resolve_weights_path
  resolve_weights_path(kwargs["fid_weights"])  # fail fast, with the fetch instructions
  model, variables, step = load_for_inference(config, workdir, step, return_step=True)
  return evaluate_generator(model, variables, model.config, os.path.join(workdir, "eval", str(step)),
                            extra={"step": int(step)}, **kwargs)
