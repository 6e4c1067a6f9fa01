"""`spade-eval` / `python eval.py`: evaluation (FID, mIoU, …) and synthesis.

  spade-eval --workdir runs/synthetic [--config synthetic] [--step N]                         # metrics
  spade-eval --mode export --workdir runs/synthetic --out model.safetensors    # weights + model card
  spade-eval --mode synthesize --labels DIR_OR_PNG --out DIR [--style IMG] [--num-samples K] \\
      (--config ... --workdir ... | --official-checkpoint latest_net_G.pth --official-options opt.txt)
"""

import os

from absl import app, flags
from ml_collections import config_flags

from spade_jax import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config: a file (configs/<family>/<name>.py) or a built-in "
                                "name (see --list-configs).", lock_config=True)
flags.DEFINE_string("workdir", None, "Training work directory (checkpoints are read from it).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
flags.DEFINE_enum("mode", "metrics", ["metrics", "synthesize", "export"],
                  "metrics (FID, mIoU, … into <workdir>/eval/<step>/metrics.json) | synthesize (label PNGs → "
                  "images) | export (the sampling weights → a .safetensors file + model card).")
flags.DEFINE_string("model", None, "An exported .safetensors model (instead of --workdir / --official-*).")
flags.DEFINE_string("labels", None, "synthesize: a label PNG or a directory of them (class ids).")
flags.DEFINE_string("instances", None, "synthesize: instance PNG(s) with the label files' names.")
flags.DEFINE_bool("instance-from-label", False, "synthesize: use class boundaries as instance edges (the "
                  "default, with a note, when a model needs instance maps and --instances is not given).")
flags.DEFINE_string("out", None, "synthesize: output directory; export: the .safetensors file.")
flags.DEFINE_string("style", None, "synthesize: style image for style-guided synthesis (VAE models).")
flags.DEFINE_integer("num-samples", 1, "synthesize: samples per label map (multimodal, VAE models).")
flags.DEFINE_string("photos", None, "synthesize, per-region style models (SEAN): the label maps' own photos (same "
                    "file names): alone = reconstruction; with --style-classes the regions that keep their style.")
flags.DEFINE_string("style-classes", None, "synthesize, per-region style models: comma-separated classes (names or "
                    "ids) that take --style's code, e.g. sky,water; needs --photos.")
flags.DEFINE_string("style-label", None, "synthesize, per-region style models: the --style photo's own label map "
                    "(default: each label map).")
flags.DEFINE_string("mean-codes", None, "synthesize, per-region style models: mean codes per class (default: "
                    "<workdir>/mean_style_codes.npz when it exists): a class the style photo lacks takes its mean.")
flags.DEFINE_float("alpha", 1.0, "synthesize, per-region style models: blend of the swapped classes' codes (0..1).")
flags.DEFINE_integer("seed", 0, "synthesize: random seed.")
flags.DEFINE_bool("overwrite", False, "synthesize: overwrite existing outputs.")
flags.DEFINE_string("official-checkpoint", None, "Official latest_net_G.pth (or .npz export).")
flags.DEFINE_string("official-options", None, "The official opt.txt / opt.pkl of that checkpoint.")
flags.DEFINE_string("family", None, "Model family of --official-checkpoint (default: spade); a --config "
                    "names its own.")


def _config():
  """--config, or the config the run wrote into --workdir."""
  if FLAGS.config is not None:
    return FLAGS.config
  if FLAGS.workdir is None:
    raise app.UsageError("give --workdir (and --config, unless the workdir holds the run's config.json)")
  from spade_jax.api import workdir_config
  return workdir_config(FLAGS.workdir)


def _load_model():
  """→ spade_jax.api.Model, from --official-checkpoint/--official-options, --model or --workdir."""
  from spade_jax import api
  return api.open_model(config=FLAGS.config, workdir=FLAGS.workdir, step=FLAGS.step,
                        official_checkpoint=FLAGS["official-checkpoint"].value,
                        official_options=FLAGS["official-options"].value, model_file=FLAGS.model,
                        family=FLAGS.family)


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.mode == "synthesize":
    if not FLAGS.labels or not FLAGS.out:
      raise app.UsageError("--mode synthesize needs --labels and --out")
    from spade_jax.evaluate.synthesis_cli import synthesize_files
    loaded = _load_model()
    model, variables = loaded.family, loaded.variables
    from_label = FLAGS["instance-from-label"].value
    if not FLAGS.instances and not from_label and "instance" in {i.name for i in model.input_spec()}:
      print("note: this model uses instance edges and no --instances were given: using the class "
            "boundaries of each label map as instance edges")
      from_label = True
    from spade_jax.evaluate.synthesis_cli import RegionStyles
    mean = FLAGS["mean-codes"].value
    if mean is None and FLAGS.workdir and hasattr(model, "mean_codes_path"):
      default = model.mean_codes_path(FLAGS.workdir)
      mean = default if os.path.isfile(default) else None
    regions = RegionStyles(photos=FLAGS.photos, classes=FLAGS["style-classes"].value,
                           style_label=FLAGS["style-label"].value, mean_codes=mean, alpha=FLAGS.alpha)
    synthesize_files(model, variables, FLAGS.labels, FLAGS.out, instances=FLAGS.instances,
                     instance_from_label=from_label, style=FLAGS.style, regions=regions,
                     num_samples=FLAGS["num-samples"].value, seed=FLAGS.seed, overwrite=FLAGS.overwrite)
  elif FLAGS.mode == "export":
    if not FLAGS.out:
      raise app.UsageError("--mode export needs --out FILE.safetensors")
    if os.path.exists(FLAGS.out) and not FLAGS.overwrite:
      raise FileExistsError(f"{FLAGS.out} exists; pass --overwrite or choose another --out")
    from spade_jax.api import workdir_metrics
    loaded = _load_model()
    if loaded.metrics is None and FLAGS.workdir:
      loaded.metrics = workdir_metrics(FLAGS.workdir, loaded.step)
    path = loaded.export(FLAGS.out)
    print(f"exported {loaded.family.name} (step {loaded.step}) → {path} + {os.path.splitext(path)[0]}.md")
  else:
    if FLAGS.workdir is None:
      raise app.UsageError("metrics need --workdir (and --config unless the workdir holds config.json)")
    from spade_jax.evaluate.restore import evaluate
    evaluate(_config(), FLAGS.workdir, FLAGS.step)


def main():
  cli.run(_main)
