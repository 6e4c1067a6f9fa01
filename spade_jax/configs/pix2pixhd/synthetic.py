"""pix2pixHD on the embedded synthetic landscapes, sized for a 2-core CPU (the demo; ≤ 15 minutes).

Coarse to fine on 64×64 crops of the 72×72 landscapes (10 classes + instance edges): the global generator
(ngf 32, 3 downsamplings, 3 residual blocks) at 32×32 for `train.global_steps`, then one local enhancer
(ngf 16, 2 blocks) at 64×64 with the global part frozen for the first `niter_fix_global` steps, then
everything; instance features (feat_num 3, nef 8) so that per-class cluster styles can be drawn
afterwards (`python -m spade_jax.models.pix2pixhd.features encode ...`); 2 discriminator scales (ndf 16),
LSGAN + feature matching, batch 4, the learning rates decaying linearly over the last 100 steps of each
stage. No VGG loss (its weights are a user file: `--config.train.vgg_weights=PATH
--config.train.no_vgg_loss=False`)."""

from spade_jax.configs.pix2pixhd.default import get_config as _base


def get_config():
  c = _base()
  c.seed = 0
  c.batch_size = 4
  c.total_steps = 300  # the local stage; the global stage: train.global_steps

  m = c.model
  m.netG = "local"
  m.ngf, m.ndf, m.nef = 16, 16, 8
  m.n_downsample_global, m.n_blocks_global = 3, 3
  m.n_local_enhancers, m.n_blocks_local = 1, 2
  m.instance_feat = True
  m.feat_num, m.n_downsample_E = 3, 3
  m.num_D, m.n_layers_D = 2, 3
  m.n_clusters = 10

  d = c.data
  d.name = "synthetic"
  d.data_dir = ""  # "" = prepared under ~/.cache/spade_jax (or $SPADE_JAX_CACHE)
  d.label_nc = 10
  d.no_instance = False
  d.preprocess_mode = "resize_and_crop"
  d.load_size, d.crop_size, d.aspect_ratio = 72, 64, 1.0
  d.synthetic_train_size, d.synthetic_val_size, d.synthetic_resolution = 2000, 200, 72

  t = c.train
  t.no_vgg_loss = True
  t.global_steps, t.global_decay_steps, t.global_num_D = 400, 100, 1
  t.niter_fix_global, t.niter_decay_steps = 50, 100

  c.log_every_steps = 25
  c.image_every_steps = 100
  c.checkpoint_every_steps = 100
  c.keep_checkpoints = 2
  c.num_sample_images = 8

  e = c.eval
  e.segmenter = "weights/segmenter_synthetic"  # the SPADE demo's U-Net (same dataset)
  return c
