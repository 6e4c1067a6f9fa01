"""The default: SPADE on the embedded synthetic landscapes, sized for a laptop CPU.

64×64 crops of the procedural landscapes (10 classes + instance edges), a narrow SPADE generator
(ngf 16, SPADE hidden width 16) with the VAE style encoder (z_dim 64: multimodal and style-guided
synthesis), discriminator (ndf 16), global batch 4, 600 steps, with the official losses (hinge GAN +
feature matching + KL), Adam (0, 0.9) and TTUR learning rates, and an EMA generator for the samples. It trains to recognisable landscapes in under 15 minutes on a 2-core
CPU, compilation and dataset rendering included (see the README), and scales up by flags, e.g.
`--config.data.crop_size=256 --config.data.load_size=286 --config.data.synthetic_resolution=256
--config.model.ngf=64 --config.model.nhidden=128 --config.model.ndf=64 --config.batch_size=16`.

The VGG perceptual loss needs torchvision's VGG19 weights, a file the user supplies: it is off here
(`train.no_vgg_loss=True`); give `--config.train.vgg_weights=PATH --config.train.no_vgg_loss=False`
to use it. The dataset is rendered on this machine on first use (nothing is downloaded).
"""

from spade_jax.configs.spade.default import get_config as _base


def get_config():
  c = _base()
  c.seed = 0
  c.total_steps = 600
  c.batch_size = 4
  c.dtype = "float32"

  m = c.model
  m.ngf, m.ndf, m.nhidden = 16, 16, 16
  m.num_D, m.n_layers_D = 2, 4
  m.use_vae = True  # multimodal + style-guided: the dataset's time of day / season is in the photo only
  m.z_dim = 64

  d = c.data
  d.name = "synthetic"
  d.data_dir = ""  # "" = prepared under ~/.cache/spade_jax (or $SPADE_JAX_CACHE)
  d.label_nc = 10
  d.contain_dontcare_label = False
  d.no_instance = False
  d.preprocess_mode = "resize_and_crop"
  d.load_size, d.crop_size, d.aspect_ratio = 72, 64, 1.0
  d.synthetic_train_size, d.synthetic_val_size, d.synthetic_resolution = 2000, 200, 72

  t = c.train
  t.no_vgg_loss = True  # needs a user-supplied VGG19 file: see the docstring
  t.vgg_weights = ""
  t.ema_decay = 0.999
  t.ema_bn_batches = 4

  c.log_every_steps = 25
  c.image_every_steps = 200
  c.checkpoint_every_steps = 200
  c.keep_checkpoints = 3
  c.num_sample_images = 8

  e = c.eval
  e.segmenter = "weights/segmenter_synthetic"  # `python -m spade_jax.evaluate.segmentation --config
  #                                                configs/spade/synthetic.py --out weights/segmenter_synthetic`
  return c
