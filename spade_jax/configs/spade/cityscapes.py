"""Cityscapes with the official dataset defaults (NVlabs/SPADE `data/<dataset>_dataset.py`, `modify_commandline_options`): 512×256, `more` upsampling, batch 16."""

from spade_jax.configs.spade.default import get_config as _base


def get_config():
  c = _base()
  c.batch_size = 16
  c.data.name = "cityscapes"
  c.data.label_nc = 35
  c.data.contain_dontcare_label = False
  c.data.no_instance = False
  c.data.preprocess_mode = "fixed"
  c.data.load_size = 512
  c.data.crop_size = 512
  c.data.aspect_ratio = 2.0
  c.model.num_upsampling_layers = "more"
  return c
