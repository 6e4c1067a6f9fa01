"""Where one SPADE training iteration spends its time, ours (XLA) and the official (PyTorch), per phase.

    .venv/bin/python bench/profile_step.py [--spade-dir .anchors/SPADE] [--crop 64 --batch 2]
        [--iters 2] [--dtype float32] [--json bench/results/profile_spade_cpu.json]
        [--md bench/results/profile_spade_cpu.md]

Ours: a `jax.profiler` trace of `--iters` steady-state iterations of the jitted `train_step` (the
same build as `bench/vs_official.py`) with XLA:CPU's per-thunk trace events on
(`--xla_cpu_enable_xprof_traceme`). Each thunk (one kernel: a fusion, a convolution, a matmul, a copy)
is attributed through its HLO metadata (`op_name`, the JAX name stack) to
  * the step (`g_step` / `d_step`, named scopes added here around the lead's functions),
  * the network (G, D, E; `adam` for the optimizer update, a named scope added here; `other`: losses,
    one-hot, glue) and the direction (`fwd`, or `bwd` for ops under `transpose(...)`),
  * the kind: spectral norm (the `spectral_norm` scope), normalisation statistics (`param_free_norm`
    and D's `norm`), SPADE's hidden convs (`mlp_shared` / `mlp_gamma` / `mlp_beta`), other convs,
    elementwise / other.
Thunk times are summed per class (thunks may run concurrently on the 2 threads, so the sum can exceed
the wall time; the table gives both).

Official: `torch.profiler` over `--iters` iterations with `record_function` scopes put around the
phases at run time (G forward, D forward, backward, Adam of each step; spectral norm's
`compute_weight`); per phase the profiler's CPU time and the top aten ops.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.append(ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))


def _flag(flag: str):
  flags = os.environ.get("XLA_FLAGS", "")
  if flag.split("=")[0] not in flags:
    os.environ["XLA_FLAGS"] = (flags + " " + flag).strip()


# ------------------------------------------------------------------------------------------------
# HLO metadata


def hlo_index(text: str) -> tuple[dict, dict]:
  """(instruction name → its text, computation name → first op_name found in it)."""
  inst, comp_meta = {}, {}
  cur = None
  for line in text.splitlines():
    if line and not line.startswith(" "):
      m = re.match(r"^(?:ENTRY )?%?([\w.\-]+)", line)
      cur = m.group(1) if m else None
      continue
    m = re.match(r"^\s+(?:ROOT )?%([\w.\-]+) = (.*)$", line)
    if m:
      inst[m.group(1)] = m.group(2)
      mm = re.search(r'op_name="([^"]+)"', line)
      if mm and cur is not None and cur not in comp_meta:
        comp_meta[cur] = mm.group(1)
  return inst, comp_meta


def op_name(name: str, inst: dict, comp_meta: dict) -> str:
  body = inst.get(name, "")
  m = re.search(r'op_name="([^"]+)"', body)
  if m:
    return m.group(1)
  for c in re.findall(r"(?:calls|to_apply|body)=%([\w.\-]+)", body):
    if c in comp_meta:
      return comp_meta[c]
  return ""


def classify(name: str, opn: str, body: str) -> tuple[str, str, str]:
  """(step, phase, kind) of one thunk."""
  step = "g_step" if "g_step" in opn else ("d_step" if "d_step" in opn else "?")
  if "adam" in opn:
    net = "adam"
  elif "SPADEGenerator" in opn:
    net = "G"
  elif "MultiscaleDiscriminator" in opn:
    net = "D"
  elif "ConvEncoder" in opn:
    net = "E"
  elif not opn:
    net = "unattributed"
  else:
    net = "other"
  direction = "bwd" if "transpose(" in opn else "fwd"
  phase = net if net in ("adam", "other", "unattributed") else f"{net} {direction}"
  if "spectral_norm" in opn:
    kind = "spectral norm"
  elif "param_free_norm" in opn or re.search(r"/model\d+/norm/", opn):
    kind = "norm statistics"
  elif re.search(r"/mlp_(shared|gamma|beta)/", opn):
    kind = "SPADE hidden convs" if ("conv" in body or "dot(" in body or "ynn" in name or "dot" in name) \
        else "SPADE hidden (elementwise)"
  elif "conv_general_dilated" in opn or "dot_general" in opn or "convolution" in name or "dot" in name:
    kind = "convs / matmuls"
  elif name.startswith("copy") or "transpose" in name or "copy" in name:
    kind = "copies / transposes"
  else:
    kind = "elementwise / other"
  return step, phase, kind


# ------------------------------------------------------------------------------------------------


def profile_ours(args) -> dict:
  _flag("--xla_cpu_enable_xprof_traceme=true")
  import jax
  from jax.profiler import ProfileData
  import vs_official as vo
  step_mod = vo._first("spade_jax.models.spade.step", "spade_jax.train.step")
  # Named scopes around the lead's step functions and the optimizer update (attribution only).
  for fn in ("g_step", "d_step"):
    orig = getattr(step_mod, fn)
    def scoped(*a, _orig=orig, _name=fn, **k):
      with jax.named_scope(_name):
        return _orig(*a, **k)
    setattr(step_mod, fn, scoped)
  orig_make = step_mod.make_optimizers

  def make_optimizers(cfg):
    import optax
    def wrap(tx):
      def update(g, s, p=None):
        with jax.named_scope("adam"):
          return tx.update(g, s, p)
      return optax.GradientTransformation(tx.init, update)
    return tuple(wrap(t) for t in orig_make(cfg))
  step_mod.make_optimizers = make_optimizers

  if args.label_ids:
    vo.add_label_ids_to_conditioning()
  cfg = vo.our_config(args.crop, args.batch, args.ngf, args.ndf, args.dtype)
  ours = vo.Ours(cfg)
  walls = ours.train(args.iters + 1)[1:]
  inst, comp_meta = hlo_index(ours.step.as_text())
  tmp = tempfile.mkdtemp(prefix="spade_prof_")
  jax.profiler.start_trace(tmp)
  traced = ours.train(args.iters)
  jax.profiler.stop_trace()
  pb = glob.glob(os.path.join(tmp, "plugins", "profile", "*", "*.xplane.pb"))[0]
  pd = ProfileData.from_file(pb)
  per_thunk = collections.Counter()
  for plane in pd.planes:
    for line in plane.lines:
      for ev in line.events:
        if ev.name in inst:
          per_thunk[ev.name] += ev.duration_ns / 1e6 / args.iters
  phases, kinds, cells = collections.Counter(), collections.Counter(), collections.Counter()
  top = []
  for name, ms in per_thunk.most_common():
    opn = op_name(name, inst, comp_meta)
    step, phase, kind = classify(name, opn, inst[name])
    phases[f"{step} {phase}"] += ms
    kinds[kind] += ms
    cells[(f"{step} {phase}", kind)] += ms
    if len(top) < args.top:
      top.append({"thunk": name, "ms": round(ms, 2), "shape": inst[name].split(" ")[0],
                  "op_name": opn, "step": step, "phase": phase, "kind": kind})
  total = sum(per_thunk.values())
  return {"wall_ms_untraced": [round(x, 1) for x in walls], "wall_ms_traced": [round(x, 1) for x in traced],
          "thunk_ms_total": round(total, 1), "flops_per_iter": ours.flops,
          "phases_ms": {k: round(v, 1) for k, v in sorted(phases.items(), key=lambda kv: -kv[1])},
          "kinds_ms": {k: round(v, 1) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
          "cells_ms": {f"{p} | {k}": round(v, 1) for (p, k), v in sorted(cells.items(), key=lambda kv: -kv[1])},
          "top_thunks": top}


def profile_official(args) -> dict:
  import vs_official as vo
  off = vo.OfficialProcess(os.path.abspath(args.torch_python), os.path.abspath(args.spade_dir), "cpu",
                           vo.official_args(args.crop, args.batch, args.ngf, args.ndf))
  try:
    walls = off.call(cmd="train", n=args.iters + 1)["ms"][1:]
    prof = off.call(cmd="profile", n=args.iters)
  finally:
    off.close()
  return {"wall_ms_unprofiled": [round(x, 1) for x in walls], **prof}


def markdown(result: dict) -> str:
  o, f = result.get("ours"), result.get("official")
  lines = [f"# One SPADE training iteration on CPU, per phase ({result['config_note']})", "",
           f"Load average before / after: {result['load_average_before']} / {result['load_average_after']}.", ""]
  if o:
    lines += [f"## Ours (XLA:CPU): {statistics.median(o['wall_ms_untraced']):.0f} ms/iteration untraced "
              f"(median of {len(o['wall_ms_untraced'])}), thunk time {o['thunk_ms_total']:.0f} ms/iteration "
              "(summed over both threads, traced)", "",
              "| phase (step, network, direction) | thunk ms / iter | share |", "|---|---:|---:|"]
    for k, v in o["phases_ms"].items():
      lines.append(f"| {k} | {v:.1f} | {100 * v / o['thunk_ms_total']:.1f} % |")
    lines += ["", "| kind | thunk ms / iter | share |", "|---|---:|---:|"]
    for k, v in o["kinds_ms"].items():
      lines.append(f"| {k} | {v:.1f} | {100 * v / o['thunk_ms_total']:.1f} % |")
    lines += ["", "Top thunks:", "", "| ms / iter | thunk | result shape | kind | op_name |", "|---:|---|---|---|---|"]
    for t in o["top_thunks"][:25]:
      lines.append(f"| {t['ms']:.1f} | {t['thunk']} | `{t['shape']}` | {t['kind']} | `{t['op_name'][-90:]}` |")
  if f:
    lines += ["", f"## Official (PyTorch {f.get('torch', '')}): "
              f"{statistics.median(f['wall_ms_unprofiled']):.0f} ms/iteration unprofiled", "",
              "| phase | CPU ms / iter |", "|---|---:|"]
    for k, v in f["phases_ms"].items():
      lines.append(f"| {k} | {v:.1f} |")
    lines += ["", "| top aten ops (self CPU) | ms / iter | calls / iter |", "|---|---:|---:|"]
    for r in f["ops"][:20]:
      lines.append(f"| {r['op']} | {r['self_ms']:.1f} | {r['count']} |")
  return "\n".join(lines) + "\n"


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument("--spade-dir", default=os.path.join(ROOT, ".anchors", "SPADE"))
  p.add_argument("--torch-python", default=os.path.join(ROOT, ".anchors", "torch-venv", "bin", "python"))
  p.add_argument("--crop", type=int, default=64)
  p.add_argument("--batch", type=int, default=2)
  p.add_argument("--ngf", type=int, default=64)
  p.add_argument("--ndf", type=int, default=64)
  p.add_argument("--dtype", default="float32")
  p.add_argument("--iters", type=int, default=2)
  p.add_argument("--top", type=int, default=40)
  p.add_argument("--sides", default="ours,official")
  p.add_argument("--label-ids", action="store_true",
                 help="SPADE's shared conv as a lookup (vs_official.add_label_ids_to_conditioning)")
  p.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "profile_spade_cpu.json"))
  p.add_argument("--md", default=os.path.join(ROOT, "bench", "results", "profile_spade_cpu.md"))
  args = p.parse_args(argv)
  try:
    import spade_jax.xla_flags as xf
    xf.configure("cpu", dtype=args.dtype, cache=False)
  except ImportError:
    pass
  sides = args.sides.split(",")
  load_before = os.getloadavg()
  result = {"config_note": f"ADE20K options, {args.crop}×{args.crop}, batch {args.batch}, {args.dtype}, "
                           f"ngf {args.ngf}, ndf {args.ndf}, no VGG",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "label_ids_lookup": args.label_ids}
  if "official" in sides:
    result["official"] = profile_official(args)
  if "ours" in sides:
    result["ours"] = profile_ours(args)
  result["load_average_before"] = [round(x, 2) for x in load_before]
  result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
  with open(args.json, "w") as fh:
    json.dump(result, fh, indent=1)
  with open(args.md, "w") as fh:
    fh.write(markdown(result))
  print(markdown(result))


if __name__ == "__main__":
  main()
