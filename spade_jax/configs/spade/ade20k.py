"""ADE20K (ADEChallengeData2016) with the official dataset defaults (NVlabs/SPADE `data/<dataset>_dataset.py`, `modify_commandline_options`)."""

from spade_jax.configs.spade.default import get_config as _base


def get_config():
  c = _base()
  c.data.name = "ade20k"
  c.data.label_nc = 150
  c.data.contain_dontcare_label = True
  c.data.no_instance = True
  c.data.preprocess_mode = "resize_and_crop"
  c.data.load_size = 286
  c.data.crop_size = 256
  c.data.aspect_ratio = 1.0
  return c
