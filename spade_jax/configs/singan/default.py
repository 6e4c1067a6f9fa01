"""SinGAN (tamarott/SinGAN) with the official defaults: one photo, scale by scale.

  train.py --config configs/singan/default.py --config.data.image=PHOTO --workdir DIR

One engine step is `train.epochs_per_step` official epochs (Dsteps D steps + Gsteps G steps; more
than one run as one `lax.scan`, for accelerators); each scale is one engine stage with its own checkpoints under
`DIR/scale_<n>/` (resume: run the same command again); the finished pyramid is `DIR/scales.npz`,
which `python -m spade_jax.models.singan.cli {sample,paint2image,...} --workdir DIR` reads.
"""

import ml_collections

from spade_jax.configs import common


def get_config():
  c = common.get_config()
  c.family = "singan"
  c.seed = 0
  c.batch_size = 1  # the photo; raise it to the device count to run on several devices (replicated)
  c.log_every_steps = 100
  c.image_every_steps = 0  # no label/val grids (no dataset); samples: the cli `sample` command
  c.checkpoint_every_steps = 500
  c.keep_checkpoints = 2
  c.num_sample_images = 0

  c.data = ml_collections.ConfigDict()
  c.data.image = ""  # the photo: a PNG/JPEG path, or synthetic:HxW (a built-in test photo)
  c.data.min_size = 25
  c.data.max_size = 250
  c.data.scale_factor = 0.75
  c.data.name = "photo"  # no dataset; the engine's grid palette reads name and label_nc
  c.data.label_nc = 0

  c.model = ml_collections.ConfigDict()
  c.model.nfc = 32
  c.model.min_nfc = 32
  c.model.num_layer = 5
  c.model.nc_z = 3

  t = c.train = ml_collections.ConfigDict()
  t.niter = 2000  # epochs per scale
  t.epochs_per_step = 1  # > 1: one lax.scan per step (accelerators; XLA:CPU runs it ~4x slower)
  t.Dsteps = 3
  t.Gsteps = 3
  t.lambda_grad = 0.1
  t.alpha = 10.0
  t.lr_g = 0.0005
  t.lr_d = 0.0005
  t.beta1 = 0.5
  t.gamma = 0.1
  t.milestone = 1600
  t.noise_amp = 0.1
  # True: G steps 2..Gsteps back-propagate through the D step's forward with the updated weights
  # (torch 1.4, what the official results and the parity fixtures come from); False (default): regenerate
  # the fake at every G step -- lower SIFID on one image (bench/results/singan_grad_modes.json, README).
  t.official_grad = False
  t.unroll = True  # unrolled D/G steps: ~4x faster epochs on CPU, ~3x longer compilation
  c.total_steps = t.niter // t.epochs_per_step  # per scale (set from train.niter by the family)
  return c
