"""Cityscapes at the official pix2pixHD settings, coarse to fine (NVIDIA/pix2pixHD `scripts/train_512p.sh`
then `train_1024p_24G.sh`): the global generator (ngf 64, 4 downsamplings, 9 blocks, 2 D scales) at
1024×512 for 100 + 100 epochs, then the local enhancer model (ngf 32, 3 D scales) at 2048×1024 for 50 + 50
epochs with the global part frozen for the first 10; batch 1, Adam 2e-4 (0.5, 0.999), LSGAN, feature
matching and VGG (λ 10). Epochs → steps with the 2975 training images. Add `--config.model.instance_feat=True`
for the instance-feature model (`_feat` scripts). The VGG loss needs `--config.train.vgg_weights=PATH`."""

from spade_jax.configs.pix2pixhd.default import get_config as _base

EPOCH = 2975  # training images = steps per epoch at batch 1


def get_config():
  c = _base()
  c.batch_size = 1
  m = c.model
  m.netG = "local"
  m.ngf = 32  # the global part: 64
  m.n_downsample_global, m.n_blocks_global = 4, 9
  m.n_local_enhancers, m.n_blocks_local = 1, 3
  m.num_D, m.n_layers_D, m.ndf = 3, 3, 64

  d = c.data
  d.name = "cityscapes"
  d.label_nc = 35
  d.no_instance = False
  d.preprocess_mode = "fixed"
  d.load_size = d.crop_size = 2048  # the global stage: 1024 (×512)
  d.aspect_ratio = 2.0

  t = c.train
  t.global_steps, t.global_decay_steps, t.global_num_D = 200 * EPOCH, 100 * EPOCH, 2
  c.total_steps, t.niter_decay_steps = 100 * EPOCH, 50 * EPOCH
  t.niter_fix_global = 10 * EPOCH
  c.log_every_steps = 100
  c.image_every_steps = 5000
  c.checkpoint_every_steps = 5000
  return c
