"""The README's notebook example, runnable: load a model, look at it, make images.

    python scripts/notebook_example.py MODEL [--out example.png]       # MODEL: workdir / .safetensors
    python scripts/notebook_example.py --make-tiny tiny.safetensors    # a tiny random-weight model (CI)

`.ci/run` runs it with the installed wheel from outside the checkout.
"""

import argparse
import sys


def make_tiny(path: str) -> None:
  """A tiny SPADE model with random weights, exported (for CI's install check; nothing is trained)."""
  import jax
  import numpy as np
  from spade_jax import api, models
  from spade_jax.configs.load import resolve, load_file
  config = load_file(resolve("spade/tiny"))
  family = models.build(config)
  state = jax.jit(family.init_state)(jax.random.PRNGKey(0))
  api.Model(family, family.sampling_variables(state), step=0, source="random weights").export(path)
  del np
  print(f"wrote {path}")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("model", nargs="?", help="a training workdir or an exported .safetensors file")
  p.add_argument("--out", default="example.png")
  p.add_argument("--make-tiny", metavar="PATH")
  a = p.parse_args(argv)
  if a.make_tiny:
    make_tiny(a.make_tiny)
    return 0
  if not a.model:
    p.error("give MODEL or --make-tiny PATH")
  # --- the example, as in the README ---
  import numpy as np
  import spade_jax
  from PIL import Image

  model = spade_jax.load(a.model)                      # a workdir, an official checkpoint, an export
  print(model.info["family"], model.info["image_size"], [c["name"] for c in model.info["classes"]][:4])
  h, w = model.info["image_size"]
  labels = np.zeros((h, w), np.int32)                  # class ids: sky above, the second class below
  labels[h // 2:] = 1
  images = model.generate(labels, seed=0, instance=labels)   # uint8 [H, W, 3]
  Image.fromarray(images).save(a.out)
  print(f"wrote {a.out}: {images.shape}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
