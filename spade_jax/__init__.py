"""spade_jax: SPADE / GauGAN and its family (pix2pixHD, SEAN, SinGAN) in JAX + Flax.

    import spade_jax
    model = spade_jax.load("runs/synthetic")          # a workdir, an official checkpoint, an export
    images = model.generate(labels, seed=0)            # numpy uint8

Importing the package imports no JAX; `load` does (see `spade_jax.api`).
"""

__version__ = "0.2.0"


def load(path, **kwargs):
  """`spade_jax.api.load`: a training workdir, an official checkpoint (`options=`), or an exported
  `.safetensors` file → a `Model` with `.info` and `.generate(...)`."""
  from spade_jax.api import load as _load
  return _load(path, **kwargs)
