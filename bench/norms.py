"""Normalization variants on one harness: parameters, XLA FLOPs, step time, memory (issue #7).

    .venv/bin/python bench/norms.py --config configs/spade/ade20k.py \
        [--variants batch,instance,group,spade,spade5x5,clade,clade_icpe,sean] \
        [--timing_crop_size 64 --timing_ngf 16 --timing_batch_size 1] [--json OUT] [--md OUT] [--png OUT]
        [--config.data.crop_size=...]  # any config override (ml_collections config_flags)

Per variant (`config.model.norm`, same SPADE generator skeleton):
  * `g_params`: generator parameters; `norm_params`: those inside the modulation layers (`norm_0/1/s`) and
    the variant's generator-level preparation (SEAN's style encoder);
  * `g_flops`: XLA cost analysis (`jit(...).lower(...).compile().cost_analysis()["flops"]`, 2 per
    multiply-add) of one G forward in inference mode, batch 1, at the *full* config;
  * `iter_flops`: the same for one training iteration (`train_step`: G step + D step) at the full config,
    batch 1, `train.no_vgg_loss = True` (no VGG weights needed; VGG would add the same cost to every
    variant); by default from the lowered HLO (`--iter_flops_from`), which agrees with the compiled
    count to ~0.1% and saves a minute of compilation per variant on CPU;
  * `ms_per_iter`, `images_per_s`, `g_fwd_ms`: steady state of the jitted, state-donating `train_step`
    (and of the G forward) on the *timing* config (on CPU by default a reduced size: crop 64, ngf = ndf
    = 16, batch 1, SEAN style width 128 — recorded in the JSON `config.timing`), each variant in a fresh
    process;
  * `peak_memory_bytes`: the device's `peak_bytes_in_use` in that process where the backend reports it
    (GPU/TPU); otherwise XLA's memory analysis of the compiled step (arguments + outputs + temporaries −
    aliased), see `config.peak_memory_source`.
Percentages are relative to the `batch` baseline (same skeleton, parameter-free BN, no modulation, label
map at the input): the definition of CLADE's "+39.21 % params / +234.73 % FLOPs" for SPADE.
Writes JSON (`device`, `versions`, `config`, `variants`, `clade_claim`), a markdown table and a bar chart.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from norms_report import BASELINE, bar_chart, clade_verdict, markdown  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", os.path.join(ROOT, "configs", "ade20k.py"),
                                "Full configuration (params and FLOPs are counted on it).")
flags.DEFINE_string("variants", "batch,instance,group,spade,spade5x5,clade,clade_icpe,sean",
                    "Comma-separated variants (see VARIANTS).")
flags.DEFINE_integer("timing_crop_size", -1, "Timing config crop size (-1: 64 on CPU, the config's elsewhere).")
flags.DEFINE_integer("timing_ngf", -1, "Timing config ngf (-1: 16 on CPU, the config's elsewhere).")
flags.DEFINE_integer("timing_batch_size", -1, "Timing config batch (-1: 1 on CPU, the config's elsewhere).")
flags.DEFINE_integer("warmup", 2, "Untimed iterations (the first compiles).")
flags.DEFINE_integer("iters", 5, "Timed iterations.")
flags.DEFINE_boolean("skip_timing", False, "Only parameters and FLOPs.")
flags.DEFINE_enum("flops_from", "compiled", ["compiled", "lowered"],
                  "G forward FLOPs: cost analysis of the compiled executable or of the lowered HLO.")
flags.DEFINE_enum("iter_flops_from", "lowered", ["compiled", "lowered"],
                  "Training-iteration FLOPs: lowered HLO by default (compiling the full-size step takes "
                  "about a minute per variant on CPU; both agree to ~0.1%).")
flags.DEFINE_string("json", "", "Output JSON (default bench/results/norms_<config>_<platform>.json).")
flags.DEFINE_string("md", "", "Output markdown (default: the JSON path with .md).")
flags.DEFINE_string("png", "", "Output chart (default: the JSON path with .png; also copied to docs/).")
flags.DEFINE_string("quality", "", "JSON written by bench/norms_quality.py: adds its FID / mIoU columns.")
flags.DEFINE_string("from_json", "", "Re-render this result JSON (and merge --quality) without measuring.")
flags.DEFINE_string("worker", "", "Internal: run the timing of one job file and print its JSON.")

# name → config overrides (applied on top of the loaded config)
VARIANTS = {
    "batch": {"model.norm": "batch"},
    "instance": {"model.norm": "instance"},
    "group": {"model.norm": "group"},
    "spade": {"model.norm": "spade"},
    "spade5x5": {"model.norm": "spade", "model.norm_G": "5x5"},
    "clade": {"model.norm": "clade"},
    "clade_icpe": {"model.norm": "clade_icpe"},
    "sean": {"model.norm": "sean"},
}
def apply_variant(config, name: str):
  c = config.copy_and_resolve_references()
  c.unlock()
  c.train.no_vgg_loss = True
  for key, value in VARIANTS[name].items():
    if key == "model.norm_G":  # kernel size only: keep the configured spectral / param-free parts
      value = re.sub(r"\d+x\d+$", value, c.model.norm_G)
    group, field = key.split(".")
    c[group][field] = value
  return c


def timing_config(config, platform_name: str):
  """The reduced config for timing (CPU default) — everything else as the full config."""
  c = config.copy_and_resolve_references()
  c.unlock()
  on_cpu = platform_name == "cpu"
  pick = lambda flag, cpu_default, full: flag if flag > 0 else (cpu_default if on_cpu else full)
  c.data.crop_size = pick(FLAGS.timing_crop_size, 64, c.data.crop_size)
  c.data.load_size = c.data.crop_size
  c.model.ngf = pick(FLAGS.timing_ngf, 16, c.model.ngf)
  c.model.ndf = max(1, config.model.ndf * c.model.ngf // config.model.ngf)  # D in proportion
  c.batch_size = pick(FLAGS.timing_batch_size, 1, c.batch_size)
  if c.model.ngf != config.model.ngf:  # keep SEAN's style width in proportion (512 at ngf 64)
    c.model.sean_style_dim = max(8, config.model.get("sean_style_dim", 512) * c.model.ngf // config.model.ngf)
  return c


def _config_summary(c) -> dict:
  m, d = c.model, c.data
  out = {"dataset": d.name, "label_nc": d.label_nc, "contain_dontcare_label": d.contain_dontcare_label,
         "no_instance": d.no_instance, "crop_size": d.crop_size, "aspect_ratio": d.aspect_ratio,
         "ngf": m.ngf, "ndf": m.ndf, "nhidden": m.nhidden, "norm_G": m.norm_G, "norm_D": m.norm_D,
         "num_upsampling_layers": m.num_upsampling_layers, "use_vae": m.use_vae,
         "batch_size": c.batch_size, "dtype": c.get("dtype", "float32"),
         "no_vgg_loss": True, "sean_style_dim": m.get("sean_style_dim", 512)}
  return out


def _n_params(tree) -> int:
  import jax
  import numpy as np
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def _norm_params(g_params) -> int:
  """Parameters in modulation layers (`norm_*` in any block) and generator-level preparation modules."""
  total = 0

  def walk(tree, inside):
    nonlocal total
    for k, v in tree.items():
      hit = inside or k.startswith("norm_") or k in ("style_encoder", "icpe")
      if isinstance(v, dict):
        walk(v, hit)
      elif hit:
        total += _n_params(v)

  walk(g_params, False)
  return total


def _fake_batch(config, batch_size: int, seed: int = 0) -> dict:
  """Blob-like label maps (coarse random cells upsampled) so regions look like segmentation maps."""
  import numpy as np
  h, w = round(config.data.crop_size / config.data.aspect_ratio), config.data.crop_size
  rng = np.random.default_rng(seed)
  nc = config.data.label_nc + int(config.data.contain_dontcare_label)
  cell = max(1, min(h, w) // 8)
  coarse = rng.integers(0, nc, (batch_size, -(-h // cell), -(-w // cell)))
  label = np.repeat(np.repeat(coarse, cell, 1), cell, 2)[:, :h, :w].astype(np.int32)
  return {"label": label, "instance": label.copy(),
          "image": rng.uniform(-1, 1, (batch_size, h, w, 3)).astype(np.float32)}


def _flops(source: str, fn, *args) -> float:
  import jax
  lowered = jax.jit(fn).lower(*args)
  cost = lowered.compile().cost_analysis() if source == "compiled" else lowered.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost["flops"])


def count(config) -> dict:
  """Parameters and FLOPs at the full config (shapes only: nothing is allocated)."""
  import jax
  import jax.numpy as jnp
  from spade_jax import models
  family = models.build(config)
  model = family.model  # the SPADE networks (variants differ only in the generator's modulation)
  v = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  h, w = model.image_hw
  seg = jax.ShapeDtypeStruct((1, h, w, model.semantic_nc), jnp.float32)
  img = jax.ShapeDtypeStruct((1, h, w, 3), jnp.float32)
  g_flops = _flops(FLAGS.flops_from, lambda v, s, i: model.generate(v, s, image=i, rng=jax.random.key(0))[0],
                   v, seg, img)
  state = jax.eval_shape(family.init_state, jax.random.PRNGKey(0))
  batch = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), _fake_batch(config, 1))
  iter_flops = _flops(FLAGS.iter_flops_from, family.train_step, state, batch)
  return {"g_params": _n_params(v["G"]["params"]), "norm_params": _norm_params(v["G"]["params"]),
          "d_params": _n_params(v["D"]["params"]), "g_flops": g_flops, "iter_flops": iter_flops}


def time_variant(config) -> dict:
  """Steady-state step time and memory of one variant (run in its own process)."""
  import jax
  import numpy as np
  from spade_jax import models
  family = models.build(config)
  model = family.model  # the SPADE networks (variants differ only in the generator's modulation)
  b = config.batch_size
  batch = jax.device_put(_fake_batch(config, b))
  # Initialisation runs once: compile it without backend optimisations (much faster on CPU).
  init = jax.jit(family.init_state).lower(jax.random.PRNGKey(0))
  try:
    init = init.compile(compiler_options={"xla_backend_optimization_level": 0,
                                          "xla_llvm_disable_expensive_passes": True})
  except Exception:  # noqa: BLE001 — options unknown to this backend
    init = init.compile()
  state = init(jax.random.PRNGKey(0))
  step = jax.jit(family.train_step, donate_argnums=0)
  compiled = step.lower(state, batch).compile()
  mem = compiled.memory_analysis()
  xla_peak = None
  if mem is not None:
    xla_peak = int(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                   - mem.alias_size_in_bytes)
  for _ in range(max(FLAGS.warmup, 1)):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(state)
  times = []
  for _ in range(FLAGS.iters):
    t = time.perf_counter()
    state, metrics = compiled(state, batch)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - t)
  ms = 1000 * float(np.median(times))
  seg = model.semantics(batch)
  gen = jax.jit(lambda v, s, i: model.generate(v, s, image=i, rng=jax.random.key(0))[0])
  jax.block_until_ready(gen(state.variables, seg, batch["image"]))
  t = time.perf_counter()
  for _ in range(FLAGS.iters):
    out = gen(state.variables, seg, batch["image"])
  jax.block_until_ready(out)
  g_ms = 1000 * (time.perf_counter() - t) / FLAGS.iters
  stats = jax.devices()[0].memory_stats() or {}
  device_peak = stats.get("peak_bytes_in_use")
  return {"ms_per_iter": round(ms, 2), "images_per_s": round(1000 * b / ms, 3), "g_fwd_ms": round(g_ms, 2),
          "peak_memory_bytes": int(device_peak) if device_peak is not None else xla_peak,
          "peak_memory_source": "device peak_bytes_in_use" if device_peak is not None
          else "xla memory_analysis (arguments + outputs + temporaries - aliased)",
          "xla_memory_bytes": xla_peak, "timed_iters": FLAGS.iters,
          "losses_finite": bool(all(np.isfinite(float(x)) for x in jax.tree_util.tree_leaves(metrics)))}


def run_worker(job_path: str) -> None:
  import ml_collections
  with open(job_path) as f:
    job = json.load(f)
  config = ml_collections.ConfigDict(job["config"])
  print("RESULT " + json.dumps(time_variant(config)), flush=True)


def time_in_subprocess(config) -> dict:
  with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump({"config": json.loads(config.to_json())}, f)
    path = f.name
  try:
    cmd = [sys.executable, os.path.abspath(__file__), f"--worker={path}", f"--warmup={FLAGS.warmup}",
           f"--iters={FLAGS.iters}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
  finally:
    os.unlink(path)
  for line in proc.stdout.splitlines():
    if line.startswith("RESULT "):
      return json.loads(line[len("RESULT "):])
  raise RuntimeError(f"timing worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def _pct(value, base):
  return None if value is None or not base else round(100.0 * (value - base) / base, 2)


def finish(result: dict, out_json: str) -> None:
  """Percentages vs the baseline, the CLADE verdict, optional quality columns; writes JSON, md, PNG."""
  base = result["variants"].get(BASELINE)
  for v in result["variants"].values():
    if base is not None:
      v["params_vs_batch_pct"] = _pct(v["g_params"], base["g_params"])
      v["flops_vs_batch_pct"] = _pct(v["g_flops"], base["g_flops"])
      v["iter_flops_vs_batch_pct"] = _pct(v["iter_flops"], base["iter_flops"])
  result["clade_claim"] = clade_verdict(result["variants"])
  if FLAGS.quality:
    with open(FLAGS.quality) as f:
      q = json.load(f)
    for name, v in result["variants"].items():
      v.update({k: q["variants"].get(name, {}).get(k) for k in ("fid", "miou")})
    result["quality"] = {"source": os.path.relpath(os.path.abspath(FLAGS.quality), ROOT),
                         "description": q.get("description", ""), "config": q.get("config")}
  os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
  with open(out_json, "w") as f:
    json.dump(result, f, indent=1)
  md = markdown(result)
  out_md = FLAGS.md or os.path.splitext(out_json)[0] + ".md"
  with open(out_md, "w") as f:
    f.write(md)
  out_png = FLAGS.png or os.path.splitext(out_json)[0] + ".png"
  bar_chart(result, out_png)
  if not FLAGS.png:
    docs = os.path.join(ROOT, "docs", os.path.basename(out_png))
    os.makedirs(os.path.dirname(docs), exist_ok=True)
    bar_chart(result, docs)
  print(md)
  print(f"wrote {out_json}, {out_md}, {out_png}")


def main(argv):
  del argv
  if FLAGS.worker:
    run_worker(FLAGS.worker)
    return
  if FLAGS.from_json:  # re-render (e.g. with --quality) without measuring again
    with open(FLAGS.from_json) as f:
      result = json.load(f)
    finish(result, FLAGS.json or FLAGS.from_json)
    return
  import jax
  import flax
  import numpy
  import optax
  config = FLAGS.config
  config_name = os.path.splitext(os.path.basename(config_flags.get_config_filename(FLAGS["config"])))[0]
  dev = jax.devices()[0]
  plat = dev.platform
  names = [n.strip() for n in FLAGS.variants.split(",") if n.strip()]
  unknown = sorted(set(names) - set(VARIANTS))
  if unknown:
    raise app.UsageError(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
  tcfg = None if FLAGS.skip_timing else timing_config(config, plat)
  result = {
      "bench": "norms", "date": datetime.datetime.now().isoformat(timespec="seconds"),
      "device": {"platform": plat, "kind": dev.device_kind, "count": jax.device_count(),
                 "description": f"{dev.device_kind} ({plat}), {os.cpu_count()} host cores, "
                                f"{platform.machine()}"},
      "versions": {"python": platform.python_version(), "jax": jax.__version__,
                   "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
                   "flax": flax.__version__, "optax": optax.__version__, "numpy": numpy.__version__},
      "command": " ".join([os.path.relpath(os.path.abspath(__file__), ROOT)] + sys.argv[1:]),
      "config": {"name": config_name, "full": _config_summary(apply_variant(config, "spade")),
                 "timing": None if tcfg is None else _config_summary(apply_variant(tcfg, "spade")),
                 "flops_from": FLAGS.flops_from, "iter_flops_from": FLAGS.iter_flops_from,
                 "flops_batch_size": 1, "timed_iters": FLAGS.iters,
                 "baseline": BASELINE,
                 "notes": "no VGG loss (train.no_vgg_loss=True); percentages vs the batch baseline; "
                          "ICPE's connected-component while-loop is counted once by XLA's cost analysis"},
      "variants": {},
  }
  for name in names:
    t0 = time.time()
    full = apply_variant(config, name)
    entry = {"norm": full.model.norm, "norm_G": full.model.norm_G, **count(full)}
    if tcfg is not None:
      entry.update(time_in_subprocess(apply_variant(tcfg, name)))
    result["variants"][name] = entry
    print(f"{name}: {json.dumps(entry)} ({time.time() - t0:.0f} s)", flush=True)
  if tcfg is not None:
    result["config"]["peak_memory_source"] = next(iter(result["variants"].values())).get("peak_memory_source")
  finish(result, FLAGS.json or os.path.join(ROOT, "bench", "results", f"norms_{config_name}_{plat}.json"))


if __name__ == "__main__":
  from spade_jax import cli
  cli.run(main)
