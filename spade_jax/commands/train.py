"""`spade-train` / `python train.py`: trains a model family (SPADE / GauGAN by default).

    spade-train --config synthetic --workdir runs/synthetic [--config.key=value ...]
    python train.py --config configs/spade/synthetic.py --workdir runs/synthetic

Re-running the same command resumes from the newest checkpoint in `<workdir>/checkpoints/`.
SIGTERM / SIGINT (Ctrl-C) save a checkpoint, then exit. See the README's "Training" section.
User errors print one line and exit 2 (`--verbose` shows the traceback).
"""

import sys

from absl import flags
from ml_collections import config_flags

from spade_jax import cli
from spade_jax.configs.load import resolve

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, TensorBoard and samples.")
config_flags.DEFINE_config_file("config", resolve("spade/synthetic"),
                                "Config: a file, or a built-in name (e.g. synthetic, spade/ade20k; see "
                                "--list-configs).", lock_config=True)
flags.mark_flags_as_required(["workdir"])


def _main(argv):
  if len(argv) > 1:
    raise cli.app.UsageError(f"unexpected arguments: {argv[1:]}")
  from spade_jax.train import loop  # after flag parsing: nothing touches a JAX backend before

  result = loop.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  if result.interrupted:
    sys.exit(128 + int(result.interrupted))


def main():
  cli.run(_main)
