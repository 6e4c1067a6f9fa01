"""A tiny SEAN for tests: 32×32 synthetic landscapes (10 classes + instance edges: 11 style channels),
ngf 4, ndf 4, style codes of width 8, SPADE width 8. Compiles in seconds on a CPU; trains nothing
recognisable. No VGG loss (its weights are a user file)."""

from spade_jax.configs.sean.default import get_config as _base


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
  m.style_length, m.encoder_ngf = 8, 4

  d = c.data
  d.name = "synthetic"
  d.data_dir = ""
  d.label_nc = 10
  d.no_instance = False  # exercises the instance-edge style channel
  d.crop_size, d.load_size = 32, 36
  d.synthetic_train_size, d.synthetic_val_size, d.synthetic_resolution = 16, 4, 32
  d.num_threads = 1

  c.train.no_vgg_loss = True
  return c
