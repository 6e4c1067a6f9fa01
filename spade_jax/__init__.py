"""spade_jax: SPADE / GauGAN and its family in JAX + Flax."""

__version__ = "0.1.0"
