"""The page's "export result": a zip with the label map (id PNG and colour PNG), the result, the
style photo (when one was used) and `params.json`, whose `command` reproduces `result.png` with
`eval.py --mode synthesize` (its output `<out>/labels.png` equals `result.png`)."""

from __future__ import annotations

import io
import json
import shlex
import zipfile
from typing import Optional

import numpy as np

from spade_jax.paint import codec

OUT_DIR = "eval_out"


def command(engine, model_args: list[str], seed: Optional[int], style: bool) -> list[str]:
  """The `eval.py --mode synthesize` arguments that reproduce a render of `labels.png`."""
  cmd = ["python", "eval.py", "--mode", "synthesize", *model_args, "--labels", "labels.png", "--out", OUT_DIR]
  if seed is not None:
    cmd += ["--seed", str(seed)]
  if "instance" in engine.spec:
    cmd.append("--instance-from-label")
  if style:
    cmd += ["--style", "style.png"]
  return cmd


def params(engine, meta: dict, result: dict, style_token: Optional[str]) -> dict:
  """params.json: what made the result, and how to make it again."""
  used = dict(result["params"])
  style_params = [c["param"] for c in engine.controls if c["type"] == "style"]
  other = sorted(k for k in used if k != "seed" and k not in style_params)
  styles = [k for k in used if k in style_params]
  cmd = command(engine, meta["reproduce_args"], result["seed"], bool(styles))
  reproducible = not other and len(styles) <= 1 and bool(meta["reproduce_args"])
  return {
      "family": engine.family.name, "model": meta["source"], "step": meta["step"],
      "image_size": list(engine.hw), "seed": result["seed"], "params": used,
      "style_token": style_token, "labels": "labels.png", "labels_colour": "labels_colour.png",
      "result": "result.png", "style": "style.png" if styles else None,
      "instance": "the label map (class boundaries as instance edges)" if "instance" in engine.spec else None,
      "command": shlex.join(cmd), "reproducible_with_eval": reproducible,
      **({} if reproducible else {"why_not": (
          f"eval.py has no option for {', '.join(other)}" if other else
          "the model was not loaded from a config + workdir or an official checkpoint")}),
      "eval_output": f"{OUT_DIR}/labels.png",
  }


def export_zip(engine, meta: dict, ids: np.ndarray, result: dict) -> bytes:
  style_params = {c["param"] for c in engine.controls if c["type"] == "style"}
  token = next((v for k, v in result["params"].items() if k in style_params), None)
  info = params(engine, meta, result, token)
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("labels.png", codec.id_png(ids, engine.export_dontcare))
    z.writestr("labels_colour.png", codec.png(engine.colours[ids]))
    z.writestr("result.png", codec.png(result["image"]))
    if token is not None:
      z.writestr("style.png", codec.png(engine.style_photo(token)))
    z.writestr("params.json", json.dumps(info, indent=2) + "\n")
  return buf.getvalue()
