"""A tiny SPADE (+ VAE encoder) for tests: 32×32 synthetic landscapes, ngf = ndf = 4, SPADE width 8.

Compiles in seconds on a CPU; trains nothing recognisable. No VGG loss (its weights are a user file).
"""

from spade_jax.configs import common
from spade_jax.configs.spade.default import get_config as _base


def get_config():
  c = _base()
  common.tiny_run(c)

  m = c.model
  m.ngf, m.ndf, m.nhidden = 4, 4, 8
  m.num_D, m.n_layers_D = 2, 3
  m.use_vae = True  # exercises the encoder, its EMA copy and the KL term
  m.z_dim = 8

  common.tiny_synthetic_data(c.data).no_instance = False  # 32×32, 10 classes + instance edges

  t = c.train
  t.no_vgg_loss = True
  t.ema_decay = 0.9
  t.ema_bn_batches = 2
  return c
