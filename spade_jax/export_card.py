"""The model card written beside an exported model (`Model.export`): what it is, what it was trained
on, for how long, how well it scored (with the protocol), and under which licence."""

from __future__ import annotations

import json


def _licence_text(licence: str, source: str) -> str:
  if licence:
    return (f"**{licence}** — converted from the official release ({source}); the official weights are "
            "licensed for non-commercial use only, with attribution, and derivatives under the same licence.")
  return ("Weights trained with spade_jax by their owner; whoever trained them decides their licence "
          "(and must respect the licence of the training data).")


def card_text(model, filename: str) -> str:
  c = model.config
  d = c.get("data", {})
  h, w = model.family.image_hw
  lines = [f"# Model card: {filename}", "",
           f"- **Family:** `{model.family.name}`", f"- **Image size:** {h}×{w}",
           f"- **Data:** `{d.get('name', '?')}`, {d.get('label_nc', '?')} classes"
           + (f" (data_dir `{d.get('data_dir')}`)" if d.get("data_dir") else ""),
           f"- **Training steps:** {model.step if model.step is not None else 'unknown (converted weights)'}"
           + (f", global batch {c.get('batch_size')}" if model.step is not None else ""),
           f"- **Source:** {model.source or 'unknown'}",
           "- **Inputs:** " + ", ".join(f"`{i['name']}`" + ("" if i["required"] else " (optional)")
                                       for i in model.info["inputs"]),
           "", "## Evaluation", ""]
  m = model.metrics
  if m:
    rows = m["settings"] if isinstance(m.get("settings"), dict) else {"": m}  # several eval settings
    rows = {n: r for n, r in rows.items() if "skipped" not in r}
    keys = [k for k in ("fid", "miou", "pixel_acc", "real_miou", "diversity_l1", "style_accuracy", "num_images")
            if any(r.get(k) is not None for r in rows.values())]
    head = (["setting"] if len(rows) > 1 or "" not in rows else []) + keys
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n, r in rows.items():
      cells = [f"{r[k]:.4g}" if isinstance(r.get(k), float) else str(r.get(k)) for k in keys]
      lines.append("| " + " | ".join(([n] if len(head) > len(keys) else []) + cells) + " |")
    lines += ["", "Protocol (from `metrics.json`):", "", "```json",
              json.dumps({k: v for k, v in (m.get("protocol") or {}).items() if k != "config"}, indent=1), "```"]
  else:
    lines.append("Not evaluated (run `spade-eval` on the workdir before exporting to include the numbers).")
  lines += ["", "## Licence", "", _licence_text(model.licence, model.source), "",
            "## Config", "", "```json", json.dumps(c.to_dict(), indent=1, sort_keys=True, default=str), "```", ""]
  return "\n".join(lines)


def write_card(model, path: str, filename: str) -> str:
  with open(path, "w") as f:
    f.write(card_text(model, filename))
  return path
