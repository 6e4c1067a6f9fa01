"""pix2pixHD (Wang et al., CVPR 2018; NVIDIA/pix2pixHD) as the `pix2pixhd` model family."""

from spade_jax.models.pix2pixhd.family import Pix2PixHDFamily  # noqa: F401  (registers the family)
