"""Prepares a dataset's records ahead of training (training also does it on first use).

    python -m spade_jax.data.prepare --format F --data-dir DIR [--cache-dir C] [dataset flags]

Bad data is refused with the same one-line problems as `inspect` (exit 1).
"""

from __future__ import annotations

import argparse

from spade_jax.data import builders, cli


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m spade_jax.data.prepare", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  cli.add_dataset_flags(p)
  p.add_argument("--cache-dir", default="", help="where records go (default ~/.cache/spade_jax "
                 "or $SPADE_JAX_CACHE; synthetic: --data-dir)")
  a = p.parse_args(argv)
  path = builders.prepare(cli.spec_from_args(a), cache_dir=a.cache_dir or None, workers=a.workers)
  print(f"prepared: {path}")
  return 0


if __name__ == "__main__":
  cli.run(main)
