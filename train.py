"""Trains SPADE / GauGAN.

    python train.py --config configs/spade/synthetic.py --workdir runs/synthetic [--config.key=value ...]

Re-running the same command resumes from the newest checkpoint in `<workdir>/checkpoints/`.
SIGTERM / SIGINT (Ctrl-C) save a checkpoint, then exit. See the README's "Training" section.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, TensorBoard and samples.")
config_flags.DEFINE_config_file("config", "configs/spade/synthetic.py", "Training configuration file.",
                                lock_config=True)
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from spade_jax.train import loop  # after flag parsing: nothing touches a JAX backend before

  try:
    result = loop.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (loop.NonFiniteLossError, loop.ckpt_lib.ConfigMismatchError,
          loop.ckpt_lib.NoUsableCheckpointError) as e:
    sys.exit(f"error: {e}")
  if result.interrupted:
    sys.exit(128 + int(result.interrupted))


if __name__ == "__main__":
  app.run(main)
