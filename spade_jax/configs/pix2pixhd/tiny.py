"""A tiny coarse-to-fine pix2pixHD for tests: 32×32 synthetic landscapes, one local enhancer around a
global generator (2 downsamplings, 1 residual block), instance features (nef 4), 2 discriminator scales,
4 global-stage steps at 16×16, then 8 steps of the full model (the first 2 with the global part frozen),
an EMA copy of G and E for sampling.
Compiles in seconds on a CPU; trains nothing recognisable. No VGG loss (its weights are a user file)."""

from spade_jax.configs import common
from spade_jax.configs.pix2pixhd.default import get_config as _base


def get_config():
  c = _base()
  common.tiny_run(c)

  m = c.model
  m.netG = "local"
  m.ngf, m.ndf, m.nef = 4, 4, 4
  m.n_downsample_global, m.n_blocks_global = 2, 1
  m.n_local_enhancers, m.n_blocks_local = 1, 1
  m.n_downsample_E = 2
  m.instance_feat = True
  m.num_D, m.n_layers_D = 2, 2
  m.n_clusters = 3

  d = common.tiny_synthetic_data(c.data)  # 32×32, 10 classes + instance edges
  d.no_instance, d.preprocess_mode, d.aspect_ratio = False, "resize_and_crop", 1.0

  t = c.train
  t.no_vgg_loss = True
  t.global_steps = 4
  t.global_num_D = 1
  t.niter_fix_global = 2
  t.niter_decay_steps = 4
  t.ema_decay = 0.9  # exercises the EMA copy of G and E
  return c
