"""SEAN on ADE20K with SPADE's ADE20K dataset options (150 classes + don't-care, no instance maps,
resize 286 / crop 256). The official SEAN releases no ADE20K code ("Will be released soon") and its ACE
layers hold 19 style Linear layers, so it cannot run with 151 input channels; here every input channel
gets its own (`model.num_style_fc = 0`)."""

from spade_jax.configs.sean.default import get_config as _base


def get_config():
  c = _base()
  d = c.data
  d.name = "ade20k"
  d.label_nc = 150
  d.contain_dontcare_label = True
  d.no_instance = True
  d.preprocess_mode = "resize_and_crop"
  d.load_size, d.crop_size, d.aspect_ratio = 286, 256, 1.0
  c.model.num_style_fc = 0  # one style Linear per input channel (151)
  return c
