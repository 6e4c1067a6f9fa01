"""SEAN on the embedded synthetic landscapes, sized for a laptop CPU (the demo of the README).

64×64 crops of the procedural landscapes (10 classes; instance edges off, so every style code belongs
to a class), a narrow generator (ngf 16, SPADE width 16, style codes of width 32, Zencoder ngf 16),
discriminator ndf 16 (2 scales × 3 layers, every normed conv of stride 2, as officially), batch 4, TTUR
Adam (0, 0.9), hinge + feature matching, no VGG (its weights are a user file). The time of day and the
season of a landscape are in its photo only, so the style codes carry them: a per-region swap moves
them region by region. Then `python -m spade_jax.models.sean.mean_codes --workdir DIR` writes the mean
codes per class.
"""

from spade_jax.configs.sean.default import get_config as _base


def get_config():
  c = _base()
  c.seed = 0
  c.total_steps = 600
  c.batch_size = 4
  m = c.model
  m.ngf, m.ndf, m.nhidden = 16, 16, 16
  m.style_length, m.encoder_ngf = 32, 16
  d = c.data
  d.name = "synthetic"
  d.data_dir = ""
  d.label_nc = 10
  d.no_instance = True
  d.load_size, d.crop_size, d.aspect_ratio = 72, 64, 1.0
  d.synthetic_train_size, d.synthetic_val_size, d.synthetic_resolution = 2000, 200, 72
  c.train.no_vgg_loss = True
  c.log_every_steps = 25
  c.image_every_steps = 200
  c.checkpoint_every_steps = 200
  c.keep_checkpoints = 2
  c.num_sample_images = 8
  return c
