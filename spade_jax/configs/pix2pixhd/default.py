"""The `pix2pixhd` family's defaults: the official pix2pixHD options (NVIDIA/pix2pixHD
`options/base_options.py`, `train_options.py`), grouped, on top of the run fields of
`spade_jax/configs/common.py`. Field names keep the official option names (`ngf`, `netG`,
`n_downsample_global`, `instance_feat`, `lambda_feat`, `no_lsgan`, ...), so an official `opt.txt` converts
one to one (`spade_jax.models.pix2pixhd.official`).

Coarse-to-fine training (`netG = "local"`): with `train.global_steps > 0` the run first trains the global
generator alone at 1/2^n_local_enhancers of the resolution (`<workdir>/global/`), then the full model, its
global part initialised from that stage, the global part frozen for the first `train.niter_fix_global`
steps, then everything fine-tuned; the learning rates of G and D decay linearly to 0 over the last
`niter_decay_steps` of each stage (see the README section for how this differs from the official train.py).
Steps, not epochs: `steps = epochs · dataset size / batch_size`.
"""

import ml_collections

from spade_jax.configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.get_config()
  c.family = "pix2pixhd"
  c.batch_size = 1  # official batchSize

  # ----- model (official names) -----
  m = c.model = ml_collections.ConfigDict()
  m.netG = "global"  # global | local (the local enhancer(s) around a global generator)
  m.ngf = 64  # for `local`: the width of the outermost enhancer; the global part has ngf · 2^L
  m.n_downsample_global = 4
  m.n_blocks_global = 9
  m.n_local_enhancers = 1
  m.n_blocks_local = 3
  m.norm = "instance"  # instance | batch (G, D and E)
  m.output_nc = 3
  m.instance_feat = False  # encoder features averaged per instance, appended to G's input
  m.label_feat = False  # ... averaged per class instead
  m.feat_num = 3
  m.nef = 16
  m.n_downsample_E = 4
  m.n_clusters = 10  # k-means clusters per class (the feature-styles command)
  m.num_D = 2
  m.n_layers_D = 3  # pix2pixHD's count
  m.ndf = 64
  m.no_ganFeat_loss = False

  # ----- data -----
  # pix2pixHD has no don't-care channel (ids >= label_nc are errors)
  d = c.data = common.label_map_data(35, no_instance=False, name="cityscapes", crop_size=1024, load_size=1024,
                                     aspect_ratio=2.0, preprocess_mode="fixed")

  # ----- training (official names; lengths in steps) -----
  t = c.train = ml_collections.ConfigDict()
  t.lr = 0.0002
  t.beta1 = 0.5
  t.beta2 = 0.999
  t.lambda_feat = 10.0  # weight of feature matching and of the VGG loss
  t.no_lsgan = False  # True: vanilla GAN (BCE on the sigmoid of D's logits)
  t.no_vgg_loss = False
  t.vgg_weights = ""  # torchvision vgg19 state dict (.pth) or an .npz of it
  t.niter_decay_steps = 0  # linear decay of both rates to 0 over the last N steps of the (final) stage
  t.niter_fix_global = 0  # local model: steps with the global part frozen (then fresh Adam on all of G)
  t.global_steps = 0  # netG=local: first train the global generator alone for N steps (0 = no such stage)
  t.global_decay_steps = 0  # its linear decay
  t.global_num_D = 0  # discriminator scales of the global stage (0 = num_D - n_local_enhancers, at least 1)
  t.ema_decay = 0.0  # EMA of G (+E) params for sampling; 0 = none (official: none)

  # ----- evaluation -----
  e = c.eval = ml_collections.ConfigDict()
  e.segmenter = ""
  e.fid_weights = ""
  e.diversity_samples = 2
  e.save_images = True
  e.style_classifier = ""  # style metrics (synthetic landscapes): a directory from `python -m
  #                          spade_jax.evaluate.style`; "" = none
  return c
