"""SinGAN (Shaham et al., ICCV 2019) as in tamarott/SinGAN: see `family.py` (the family), `cli.py`
(the commands), `scale.py` (one scale's training), `generate.py` / `manipulate.py` (sampling)."""

from spade_jax.models.singan import family  # noqa: F401  (registers the "singan" family)
