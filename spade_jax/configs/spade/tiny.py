"""A tiny SPADE (+ VAE encoder) for tests: 32×32 synthetic landscapes, ngf = ndf = 4, SPADE width 8.

Compiles in seconds on a CPU; trains nothing recognisable. No VGG loss (its weights are a user file).
"""

from spade_jax.configs.spade.default import get_config as _base


def get_config():
  c = _base()
  c.seed = 0
  c.total_steps = 8
  c.batch_size = 4
  c.log_every_steps = 2
  c.image_every_steps = 4
  c.checkpoint_every_steps = 4
  c.keep_checkpoints = 3
  c.num_sample_images = 2

  m = c.model
  m.ngf, m.ndf, m.nhidden = 4, 4, 8
  m.num_D, m.n_layers_D = 2, 3
  m.use_vae = True  # exercises the encoder, its EMA copy and the KL term
  m.z_dim = 8

  d = c.data
  d.name = "synthetic"
  d.data_dir = ""  # synthetic: prepared under ~/.cache/spade_jax unless set
  d.label_nc = 10
  d.contain_dontcare_label = False
  d.no_instance = False
  d.crop_size, d.load_size = 32, 36
  d.synthetic_train_size, d.synthetic_val_size, d.synthetic_resolution = 16, 4, 32
  d.num_threads = 1

  t = c.train
  t.no_vgg_loss = True
  t.ema_decay = 0.9
  t.ema_bn_batches = 2
  return c
