"""Rendering of the normalization benchmark (`bench/norms.py`): the CLADE-claim verdict, the markdown
table and the bar chart (Pillow, no plotting dependency)."""

from __future__ import annotations

BASELINE = "batch"
CLADE_CLAIM = {"source": "arXiv 2004.02867 (abstract), ADE20K generator, vs the generator with BatchNorm",
               "spade": {"params_pct": 39.21, "flops_pct": 234.73},
               "clade": {"params_pct": 4.57, "flops_pct": 0.07}}


def clade_verdict(variants: dict) -> dict:
  ours = {k: {"params_pct": variants[k].get("params_vs_batch_pct"),
              "flops_pct": variants[k].get("flops_vs_batch_pct")} for k in ("spade", "clade") if k in variants}
  out = {"claimed": CLADE_CLAIM, "ours": ours}
  if len(ours) < 2:
    out["verdict"] = "not evaluated (needs the batch, spade and clade variants)"
    return out
  s, c = ours["spade"], ours["clade"]
  holds = (c["params_pct"] < s["params_pct"] / 4 and c["flops_pct"] < 1.0 and s["flops_pct"] > 100)
  out["holds"] = bool(holds)
  out["verdict"] = (
      f"{'Holds qualitatively' if holds else 'Does not hold'} by our count (the exact percentages differ): "
      f"vs the batch-norm generator SPADE adds "
      f"{s['params_pct']:+.2f}% params / {s['flops_pct']:+.2f}% FLOPs (claimed +39.21% / +234.73%), CLADE "
      f"{c['params_pct']:+.2f}% / {c['flops_pct']:+.2f}% (claimed +4.57% / +0.07%).")
  return out


def markdown(result: dict) -> str:
  full, timing = result["config"]["full"], result["config"]["timing"]
  quality = any("fid" in v for v in result["variants"].values())
  lines = [
      f"Normalization variants — `{result['config']['name']}`, device: {result['device']['description']}, "
      f"{result['date']}",
      "",
      f"Params and FLOPs: full config (crop {full['crop_size']}, ngf {full['ngf']}, label_nc "
      f"{full['label_nc']}, batch 1; FLOPs = XLA cost analysis: G forward {result['config']['flops_from']}, "
      f"iteration {result['config']['iter_flops_from']}). "
      + (f"Timing and memory: crop {timing['crop_size']}, ngf {timing['ngf']}, ndf {timing.get('ndf')}, "
         f"batch {timing['batch_size']}, SEAN style width {timing.get('sean_style_dim')}, "
         f"median of {result['config']['timed_iters']} iterations; no VGG loss."
         if timing else "Timing skipped."),
      "Δ = relative to the `batch` baseline (same skeleton, parameter-free BN, no modulation).",
      "",
      "| variant | G params (M) | Δ params | norm params (M) | G fwd GFLOPs | Δ FLOPs | iter GFLOPs "
      "| ms/iter | images/s | peak mem (MB) |" + (" FID | mIoU |" if quality else ""),
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if quality else ""),
  ]
  fmt = lambda x, f: "–" if x is None else f.format(x)
  for name, v in result["variants"].items():
    lines.append(
        f"| {name} | {v['g_params'] / 1e6:.2f} | {fmt(v.get('params_vs_batch_pct'), '{:+.2f}%')} | "
        f"{v['norm_params'] / 1e6:.2f} | {v['g_flops'] / 1e9:.1f} | {fmt(v.get('flops_vs_batch_pct'), '{:+.2f}%')}"
        f" | {v['iter_flops'] / 1e9:.1f} | {fmt(v.get('ms_per_iter'), '{:.1f}')} | "
        f"{fmt(v.get('images_per_s'), '{:.2f}')} | "
        f"{fmt(None if v.get('peak_memory_bytes') is None else v['peak_memory_bytes'] / 2**20, '{:.0f}')} |"
        + (f" {fmt(v.get('fid'), '{:.1f}')} | {fmt(v.get('miou'), '{:.3f}')} |" if quality else ""))
  if quality:
    q = result["quality"]
    lines += ["", f"FID / mIoU: {q.get('description', '')} (from `{q['source']}`)."]
  lines += ["", f"CLADE's claim: {result['clade_claim']['verdict']}", ""]
  return "\n".join(lines)


def bar_chart(result: dict, path: str) -> None:
  """Horizontal bar panels (params, G FLOPs, ms/iter, peak memory) drawn with Pillow."""
  from PIL import Image, ImageDraw, ImageFont
  names = list(result["variants"])
  panels = [("G params (M)", lambda v: v["g_params"] / 1e6, "params_vs_batch_pct"),
            ("G forward GFLOPs (full config)", lambda v: v["g_flops"] / 1e9, "flops_vs_batch_pct"),
            ("ms / training iteration (timing config)", lambda v: v.get("ms_per_iter"), None),
            ("peak memory MB (timing config)",
             lambda v: None if v.get("peak_memory_bytes") is None else v["peak_memory_bytes"] / 2**20, None)]
  font = ImageFont.load_default(size=14)
  small = ImageFont.load_default(size=12)
  row, label_w, bar_w, pad = 22, 90, 300, 16
  panel_h = 30 + row * len(names)
  img = Image.new("RGB", (label_w + bar_w + 130 + 2 * pad, 40 + len(panels) * (panel_h + pad)), "white")
  d = ImageDraw.Draw(img)
  d.text((pad, 10), f"Normalization variants, {result['config']['name']} ({result['device']['platform']})",
         fill="black", font=font)
  colors = {"batch": "#999999", "instance": "#bbbbbb", "group": "#cccccc", "spade": "#d62728",
            "spade5x5": "#ff7f0e", "clade": "#1f77b4", "clade_icpe": "#17becf", "sean": "#9467bd"}
  y = 40
  for title, get, pct_key in panels:
    d.text((pad, y), title, fill="black", font=font)
    vals = [get(result["variants"][n]) for n in names]
    top = max([x for x in vals if x is not None] or [1])
    for i, (n, x) in enumerate(zip(names, vals)):
      yy = y + 24 + i * row
      d.text((pad, yy + 3), n, fill="black", font=small)
      if x is None:
        d.text((pad + label_w, yy + 3), "–", fill="black", font=small)
        continue
      w = max(1, int(bar_w * x / top))
      d.rectangle([pad + label_w, yy + 2, pad + label_w + w, yy + row - 4], fill=colors.get(n, "#2ca02c"))
      text = f"{x:,.1f}"
      pct = result["variants"][n].get(pct_key) if pct_key else None
      if pct is not None and n != BASELINE:
        text += f" ({pct:+.1f}%)"
      d.text((pad + label_w + w + 6, yy + 3), text, fill="black", font=small)
    y += panel_h + pad
  img.save(path)
