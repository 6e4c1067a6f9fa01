"""Evaluation and synthesis entry point.

  python eval.py --config configs/spade/synthetic.py --workdir runs/synthetic [--step N]       # metrics
  python eval.py --mode synthesize --labels DIR_OR_PNG --out DIR [--style IMG] [--num-samples K] \\
      (--config ... --workdir ... | --official-checkpoint latest_net_G.pth --official-options opt.txt)
"""

import sys

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file (configs/<family>/<name>.py).", lock_config=True)
flags.DEFINE_string("workdir", None, "Training work directory (checkpoints are read from it).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
flags.DEFINE_enum("mode", "metrics", ["metrics", "synthesize"], "What to do.")
flags.DEFINE_string("labels", None, "synthesize: a label PNG or a directory of them (class ids).")
flags.DEFINE_string("instances", None, "synthesize: instance PNG(s) with the label files' names.")
flags.DEFINE_bool("instance-from-label", False, "synthesize: use class boundaries as instance edges.")
flags.DEFINE_string("out", None, "synthesize: output directory.")
flags.DEFINE_string("style", None, "synthesize: style image for style-guided synthesis (VAE models).")
flags.DEFINE_integer("num-samples", 1, "synthesize: samples per label map (multimodal, VAE models).")
flags.DEFINE_integer("seed", 0, "synthesize: random seed.")
flags.DEFINE_bool("overwrite", False, "synthesize: overwrite existing outputs.")
flags.DEFINE_string("official-checkpoint", None, "Official latest_net_G.pth (or .npz export).")
flags.DEFINE_string("official-options", None, "The official opt.txt / opt.pkl of that checkpoint.")
flags.DEFINE_string("family", None, "Model family of --official-checkpoint (default: spade); a --config "
                    "names its own.")


def _load_model():
  ckpt, opts = FLAGS["official-checkpoint"].value, FLAGS["official-options"].value
  if ckpt or opts:
    if not (ckpt and opts):
      raise app.UsageError("--official-checkpoint and --official-options go together")
    from spade_jax import models
    from spade_jax.configs.common import DEFAULT_FAMILY
    cls = models.get(FLAGS.family or DEFAULT_FAMILY)
    if getattr(cls, "load_official", None) is None:
      raise app.UsageError(f"the {cls.name} family cannot read official checkpoints")
    return cls.load_official(ckpt, opts)
  if FLAGS.config is None or FLAGS.workdir is None:
    raise app.UsageError("give --config and --workdir, or --official-checkpoint and --official-options")
  from spade_jax.evaluate.restore import load_for_inference
  return load_for_inference(FLAGS.config, FLAGS.workdir, FLAGS.step)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    if FLAGS.mode == "synthesize":
      if not FLAGS.labels or not FLAGS.out:
        raise app.UsageError("--mode synthesize needs --labels and --out")
      from spade_jax.evaluate.synthesis_cli import synthesize_files
      model, variables = _load_model()
      synthesize_files(model, variables, FLAGS.labels, FLAGS.out, instances=FLAGS.instances,
                       instance_from_label=FLAGS["instance-from-label"].value, style=FLAGS.style,
                       num_samples=FLAGS["num-samples"].value, seed=FLAGS.seed, overwrite=FLAGS.overwrite)
    else:
      if FLAGS.config is None or FLAGS.workdir is None:
        raise app.UsageError("metrics need --config and --workdir")
      from spade_jax.evaluate.restore import evaluate
      evaluate(FLAGS.config, FLAGS.workdir, FLAGS.step)
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)
