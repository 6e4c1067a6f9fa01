"""Base configuration: the official SPADE training defaults (see `spade_jax/defaults.py`)."""

from spade_jax.defaults import get_config  # noqa: F401
