"""The `spade` family's defaults: the official SPADE options (NVlabs/SPADE `options/base_options.py`,
`train_options.py`), grouped, on top of the run fields of `spade_jax/configs/common.py`.

Field names keep the official option names (`ngf`, `norm_G`, `label_nc`, `lambda_feat`, ...) so that an
official `opt.txt` converts one to one (see `spade_jax.models.spade.official.options`). Dataset configs
import this file and override what the official dataset setters override.
"""

import ml_collections

from spade_jax.configs import common


def get_config() -> ml_collections.ConfigDict:
  c = common.get_config()
  c.family = "spade"

  # ----- model (official names) -----
  m = c.model = ml_collections.ConfigDict()
  m.norm = "spade"  # modulation variant: spade | clade | clade_icpe | sean | batch | instance | group
  m.ngf = 64
  m.ndf = 64
  m.norm_G = "spectralspadesyncbatch3x3"
  m.norm_D = "spectralinstance"
  m.norm_E = "spectralinstance"
  m.num_upsampling_layers = "normal"  # normal | more | most
  m.use_vae = False
  m.z_dim = 256
  m.ngf_E = 0  # not official: the VAE encoder's width (0 = model.ngf, the official ConvEncoder's)
  m.logvar_init = 0.0  # not official: the VAE posterior's initial log-variance (added to fc_var's output;
  #                      e.g. -2 starts z = mu + 0.37·eps, so z carries the photo from the first steps)
  m.num_D = 2
  m.n_layers_D = 4
  m.nhidden = 128  # SPADE hidden width (hard-coded 128 in the official code)
  m.output_nc = 3
  m.init_type = "xavier"
  m.init_variance = 0.02
  m.no_ganFeat_loss = False  # D returns intermediate features unless this is set
  m.num_groups = 32  # group-norm baseline
  m.icpe_skip_class = 0  # CLADE-ICPE: class id without a positional map (official: 0)
  m.sean_style_dim = 512
  m.sean_encoder_ngf = 32
  m.sean_per_class_fc = True  # official SEAN: one FC per class in every styled layer

  # ----- data -----
  d = c.data = common.label_map_data(182, no_instance=False)

  # ----- training (official names) -----
  t = c.train = ml_collections.ConfigDict()
  t.gan_mode = "hinge"  # hinge | ls | original | w
  t.lr = 0.0002
  t.beta1 = 0.0
  t.beta2 = 0.9
  t.no_TTUR = False
  t.lambda_feat = 10.0
  t.lambda_vgg = 10.0
  t.lambda_kld = 0.05
  t.kld_warmup_steps = 0  # not official: ramp lambda_kld linearly from 0 over N steps (0 = constant)
  t.kld_free_bits = 0.0  # not official: per-z-dimension KL floor in nats ("free bits"; 0 = off)
  t.lr_E_mult = 1.0  # not official: the encoder's learning rate as a multiple of G's (1 = official)
  t.lambda_l1 = 0.0  # not official: weight of an L1 pixel loss between G(label, E(photo)) and the photo
  #                    (BicycleGAN's cVAE-GAN reconstruction term; 0 = off)
  t.no_vgg_loss = False
  t.vgg_weights = ""  # path to torchvision vgg19 state dict (.pth) or converted .npz
  t.niter_decay_steps = 0  # linear lr decay over the last N steps (0 = constant lr, official default)
  t.ema_decay = 0.999  # EMA of the generator (+ encoder) params; 0 = no EMA copy
  t.ema_bn_batches = 4  # recent training batches to re-estimate the EMA generator's BN statistics
  #                       before sampling (0 = use G's running statistics)

  # ----- evaluation (eval.py metrics mode; see spade_jax/evaluate/loop.py for the protocol) -----
  e = c.eval = ml_collections.ConfigDict()
  e.segmenter = ""  # mIoU segmenter: a U-Net directory (`python -m spade_jax.evaluate.segmentation`)
  #                   or a DeepLabV2 .pth/.npz (COCO-Stuff, see the README); "" = no mIoU
  e.fid_weights = ""  # FID Inception file ("" = $SPADE_FID_WEIGHTS or weights/fid_inception/default_1.pt)
  e.style_classifier = ""  # style metrics (synthetic landscapes): a directory from `python -m
  #                          spade_jax.evaluate.style`; "" = none
  e.style_code = "sample"  # VAE style from a photo, wherever G is given one (eval, sample_grid, paint):
  #                   "sample" = z = mu + σ·eps, a fresh eps per call (official test.py); "mean" = z = mu, the
  #                   posterior mean (not official; BicycleGAN's test-time choice: one photo, one image)
  e.diversity_samples = 2  # random-z samples per label map for the diversity score (VAE models)
  e.save_images = True
  return c
