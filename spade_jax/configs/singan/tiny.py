"""A tiny SinGAN for tests: the built-in 22x26 synthetic photo, 3 scales, 4 channels, 2 epochs."""

from spade_jax.configs.singan.default import get_config as _base


def get_config():
  c = _base()
  c.batch_size = 4  # replicated rows: lets the 4-device test drivers shard the batch
  c.log_every_steps = 1
  c.checkpoint_every_steps = 1
  c.data.image = "synthetic:22x26"
  c.data.min_size, c.data.max_size = 14, 24
  c.model.nfc = c.model.min_nfc = 4
  c.train.niter = 2
  c.train.epochs_per_step = 1
  c.train.unroll = False  # compile fast
  c.total_steps = 2
  return c
