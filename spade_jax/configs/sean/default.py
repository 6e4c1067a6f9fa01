"""The `sean` family's defaults: the official SEAN options (ZPdesu/SEAN `options/base_options.py`,
`train_options.py`), grouped, on top of the run fields of `spade_jax/configs/common.py`.

Field names keep the official option names (`ngf`, `norm_G`, `label_nc`, `lambda_feat`, ...) so that an
official `opt.txt` converts one to one (`spade_jax.models.sean.official`). Where SEAN differs from SPADE:
`n_layers_D` 3 (and every discriminator middle conv has stride 2), `beta1/beta2` 0.5/0.999 — used only
with `no_TTUR`: with TTUR the official optimiser hard-codes (0, 0.9) —, no VAE and no KLD. Widths the
official code hard-codes are fields here with the official values: `style_length` 512 (the style-code
width), `encoder_ngf` 32 (the Zencoder's), `num_style_fc` 19 (style Linear layers per ACE layer: the
official code builds 19 whatever `label_nc` is and cannot run with more input channels; 0 = one per
input channel), `nhidden` 128 (the SPADE branch's width).
"""

import ml_collections

from spade_jax.configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.get_config()
  c.family = "sean"
  c.batch_size = 2  # official README: "single GPU with small memory: --batchSize 2"

  # ----- model (official names) -----
  m = c.model = ml_collections.ConfigDict()
  m.ngf = 64
  m.ndf = 64
  m.norm_G = "spectralspadesyncbatch3x3"  # spectral norm on the block convs, SPADE-branch kernel 3
  m.norm_D = "spectralinstance"
  m.num_upsampling_layers = "normal"  # normal | more ("most" does not run officially)
  m.num_D = 2
  m.n_layers_D = 3
  m.nhidden = 128
  m.style_length = 512
  m.encoder_ngf = 32
  m.num_style_fc = 19
  m.output_nc = 3
  m.init_type = "xavier"
  m.init_variance = 0.02
  m.no_ganFeat_loss = False

  # ----- data (the official `custom` dataset with CelebAMask-HQ's options) -----
  d = c.data = common.label_map_data(19, no_instance=True)

  # ----- training (official names) -----
  t = c.train = ml_collections.ConfigDict()
  t.gan_mode = "hinge"  # hinge | ls | original | w
  t.lr = 0.0002
  t.beta1 = 0.5  # only with no_TTUR (TTUR: (0, 0.9), hard-coded officially)
  t.beta2 = 0.999
  t.no_TTUR = False
  t.lambda_feat = 10.0
  t.lambda_vgg = 10.0
  t.no_vgg_loss = False
  t.vgg_weights = ""  # torchvision vgg19 state dict (.pth) or converted .npz; "random" for timing runs
  t.niter_decay_steps = 0  # linear lr decay over the last N steps (official: niter_decay 50 epochs)

  # ----- evaluation -----
  e = c.eval = ml_collections.ConfigDict()
  e.segmenter = ""
  e.fid_weights = ""
  e.save_images = True
  e.style_classifier = ""  # style metrics (synthetic landscapes): a directory from `python -m
  #                          spade_jax.evaluate.style`; "" = none
  e.style = "both"  # both | reconstruction (style from the paired photo) | mean (mean codes per class);
  #                   both: the harness writes eval/<step>/{reconstruction,mean_codes}/metrics.json
  e.mean_codes = ""  # mean style codes file for eval.style=mean ("" = mean_style_codes.npz in the workdir)
  e.class_names = ""  # comma-separated class names (style classes by name); "" = the dataset's, or ids
  return c
