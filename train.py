"""Trains a model family; the same program as `spade-train` (`spade_jax/commands/train.py`).

    python train.py --config configs/spade/synthetic.py --workdir runs/synthetic [--config.key=value ...]
"""

from spade_jax.commands.train import main

if __name__ == "__main__":
  main()
