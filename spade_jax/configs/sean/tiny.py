"""A tiny SEAN for tests: 32×32 synthetic landscapes (10 classes + instance edges: 11 style channels),
ngf 4, ndf 4, style codes of width 8, SPADE width 8. Compiles in seconds on a CPU; trains nothing
recognisable. No VGG loss (its weights are a user file)."""

from spade_jax.configs import common
from spade_jax.configs.sean.default import get_config as _base


def get_config():
  c = _base()
  common.tiny_run(c)

  m = c.model
  m.ngf, m.ndf, m.nhidden = 4, 4, 8
  m.style_length, m.encoder_ngf = 8, 4

  common.tiny_synthetic_data(c.data).no_instance = False  # exercises the instance-edge style channel

  c.train.no_vgg_loss = True
  return c
