"""Sampling variables from a training workdir: what the family samples with (the EMA weights when the
run kept them), refined as the family asks (e.g. BN statistics re-estimated on a few training
batches, as the training loop does for its samples)."""

from __future__ import annotations

import json
import os
from typing import Optional

import jax
import numpy as np

from spade_jax import models
from spade_jax.configs import common
from spade_jax.configs import validate as config_check
from spade_jax.train import checkpoint as ckpt_lib


def restore_state(config, workdir: str, step: Optional[int] = None):
  """→ (family, state on the host, step). The newest readable checkpoint unless `step` is given."""
  config = common.complete(config)
  family = models.build(config)
  template = jax.eval_shape(family.init_state, jax.random.PRNGKey(0))
  config_check.check(config, training=False)
  ckpt = ckpt_lib.Checkpointer(workdir, config, family=family, async_save=False, create=False)
  try:
    steps = ckpt.all_steps()
    if not steps:
      raise FileNotFoundError(f"no checkpoint in {os.path.join(os.path.abspath(workdir), 'checkpoints')}")
    if step is None:
      restored = ckpt.restore(template, config.to_dict())
      return family, restored.state, restored.step
    if step not in steps:
      raise FileNotFoundError(f"no checkpoint for step {step} in {ckpt.directory} (have {steps})")
    return family, ckpt.restore_step(step, template, config.to_dict()), step
  finally:
    ckpt.close()


def load_for_inference(config, workdir: str, step: Optional[int] = None, *, bn_batches: Optional[int] = None,
                       log=print, return_step: bool = False):
  """(family, sampling variables[, step]): e.g. EMA params with re-estimated BN statistics."""
  family, state, step = restore_state(config, workdir, step)
  variables = family.sampling_variables(state)
  k = int(family.refinement_batches if bn_batches is None else bn_batches)
  if family.needs_refinement(state) and k > 0:
    from spade_jax.data.pipeline import make_iterator
    it = make_iterator(family.config, "train", process_index=0, process_count=1)
    batches = [next(it) for _ in range(k)]
    stacked = {key: np.stack([b[key] for b in batches]) for key in family.batch_keys if key in batches[0]}
    variables = jax.jit(family.refine_sampling_variables)(variables, stacked, jax.random.PRNGKey(step))
    log(f"restored step {step}: sampling weights refined on {k} training batches "
        "(EMA generator, BN statistics re-estimated)")
  else:
    log(f"restored step {step}: {'EMA' if family.needs_refinement(state) else 'live'} generator")
  return (family, variables, step) if return_step else (family, variables)


def evaluate(config, workdir: str, step: Optional[int] = None, **kwargs) -> dict:
  """`eval.py` metrics mode: `<workdir>/eval/<step>/metrics.json` + images. A family with several
  `eval_settings` (e.g. SEAN: reconstruction and mean codes) gets one folder per setting,
  `eval/<step>/<setting>/metrics.json` + images, and a summary `eval/<step>/metrics.json`
  (`{"step", "family", "settings": {name: metrics without the protocol, or {"skipped": why}},
  "protocol": {name: its protocol without the config}}`)."""
  from spade_jax.evaluate.loop import evaluate_generator
  ckpt_lib.require_checkpoints(workdir)  # the cheapest check first
  e = config.get("eval", {})
  seg = e.get("segmenter", "") or None
  if seg and not os.path.exists(seg):  # before the slow restore: fail fast, name the option
    raise FileNotFoundError(f"config.eval.segmenter: {seg} does not exist (a U-Net directory, or a "
                            f"DeepLabV2 .pth/.npz file: see the README); train the synthetic "
                            f"segmenter with `python -m spade_jax.evaluate.segmentation --config CONFIG "
                            f"--out {seg}`, or set --config.eval.segmenter='' to skip mIoU")
  style = e.get("style_classifier", "") or None
  if style and not os.path.isdir(style):
    raise FileNotFoundError(f"config.eval.style_classifier: {style} does not exist; train it with `python -m "
                            f"spade_jax.evaluate.style --config CONFIG --out {style}`, or set "
                            f"--config.eval.style_classifier='' to skip the style metrics")
  kwargs = {"segmenter_dir": seg, "fid_weights": e.get("fid_weights", "") or None, "style_classifier": style,
            "diversity_samples": int(e.get("diversity_samples", 2)),
            "save_images": bool(e.get("save_images", True)), **kwargs}
  from spade_jax.evaluate.nets.inception import resolve_weights_path
  if kwargs.get("fid", True):
    resolve_weights_path(kwargs["fid_weights"])  # fail fast, with the fetch instructions
  family, variables, step = load_for_inference(config, workdir, step, return_step=True)
  out_dir = os.path.join(workdir, "eval", str(step))
  settings = family.eval_settings(workdir)
  if not settings:
    return evaluate_generator(family, variables, family.config, out_dir, extra={"step": int(step)}, **kwargs)
  log = kwargs.get("log", print)
  summary = {"step": int(step), "family": family.name, "settings": {}, "protocol": {}}
  for name, fam in settings.items():
    if isinstance(fam, str):  # a setting that cannot run here: say why, in the summary too
      log(f"setting {name}: not evaluated: {fam}")
      summary["settings"][name] = {"skipped": fam}
      continue
    log(f"setting {name}: {fam.eval_protocol().get('generation', name)}")
    m = evaluate_generator(fam, variables, fam.config, os.path.join(out_dir, name),
                           extra={"step": int(step), "setting": name}, **kwargs)
    summary["settings"][name] = {k: v for k, v in m.items() if k != "protocol"}
    summary["protocol"][name] = {k: v for k, v in m["protocol"].items() if k != "config"}
  with open(os.path.join(out_dir, "metrics.json"), "w") as f:
    json.dump(summary, f, indent=2)
  return summary
