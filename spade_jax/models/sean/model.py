"""The SEAN model (ZPdesu/SEAN `models/pix2pix_model.py`, `models/networks/generator.py`) as pure
functions over explicit variables: semantics → G (Zencoder + ACE blocks) → D.

`variables` is `{"G": {...}, "D": {...}}`, each a Flax variable dict with `params` and `batch_stats` (ACE
sync-BN running statistics, spectral-norm u/v). The generator is SPADE's skeleton (`fc` conv on the
label map at the latent size, `head_0`, `G_middle_0/1`, `up_0..3`, `conv_img`, tanh) with SEAN's ACE
layers as the norms (`spade_jax.nn.sean`; our `norm_0/norm_1/norm_s` are the official `ace_0/ace_1/ace_s`)
and the Zencoder as its preparation step. The discriminator is the multi-scale PatchGAN with every
normed conv of stride 2 (unlike SPADE's) and `n_layers_D` 3 by default.

Style codes are `[B, semantic_nc, style_length]`: one row per input channel (the classes, then the
don't-care and instance-edge channels when the layout has them), a zero row where the channel is absent
from the style photo at half resolution. Noise: every ACE layer adds one draw per pixel, also at test
time, from the `noise` RNG stream (`rng`), or the given official-layout draws (`noise`, replay).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp

from spade_jax.data.labels import onehot_ids, semantic_nc, to_semantics
from spade_jax.gan.discriminator import MultiscaleDiscriminator, discriminate_pair
from spade_jax.models.spade.generator import SPADEGenerator
from spade_jax.nn.modulation import parse_spade_norm
from spade_jax.nn.norms import kernel_init
from spade_jax.nn.precision import compute_dtype
from spade_jax.nn.sean import Zencoder, region_presence, sean_modulation

SEAN_D_LAST_STRIDE = 2  # every normed conv of SEAN's NLayerDiscriminator has stride 2


def _split(variables: dict) -> tuple[dict, dict]:
  return variables["params"], variables.get("batch_stats", {})


def _w_init(config):
  m = config.model
  return kernel_init(m.get("init_type", "xavier"), m.get("init_variance", 0.02))


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: usable as a static jit argument
class SEANModel:
  config: Any
  axis_name: Optional[str] = None

  def __post_init__(self):
    m, d = self.config.model, self.config.data
    dtype = compute_dtype(self.config)
    spectral, _, ks = parse_spade_norm(m.norm_G)
    w_init = _w_init(self.config)
    modulation = sean_modulation(kernel_size=ks, nhidden=m.nhidden, style_length=m.style_length,
                                 encoder_ngf=m.encoder_ngf, num_style_fc=m.num_style_fc,
                                 axis_name=self.axis_name, w_init=w_init, dtype=dtype)
    G = SPADEGenerator(modulation=modulation, ngf=m.ngf, crop_size=d.crop_size, aspect_ratio=d.aspect_ratio,
                       num_upsampling_layers=m.num_upsampling_layers, output_nc=m.get("output_nc", 3),
                       spectral=spectral, w_init=w_init, dtype=dtype)
    D = MultiscaleDiscriminator(num_D=m.num_D, ndf=m.ndf, n_layers_D=m.n_layers_D, norm_D=m.norm_D,
                                axis_name=self.axis_name, w_init=w_init, dtype=dtype,
                                intermediate=not m.get("no_ganFeat_loss", False),
                                last_middle_stride=SEAN_D_LAST_STRIDE)
    encoder = Zencoder(style_length=m.style_length, ngf=m.encoder_ngf, w_init=w_init, dtype=dtype)
    object.__setattr__(self, "G", G)
    object.__setattr__(self, "D", D)
    object.__setattr__(self, "encoder", encoder)

  # ----- shapes -----
  @staticmethod
  def channels(data_config) -> int:
    """Input channels (= style-code rows): label_nc + don't-care + instance edge."""
    d = data_config
    return semantic_nc(d.label_nc, d.contain_dontcare_label, d.no_instance)

  @property
  def semantic_nc(self) -> int:
    return self.channels(self.config.data)

  @property
  def style_length(self) -> int:
    return int(self.config.model.style_length)

  @property
  def image_hw(self) -> tuple[int, int]:
    d = self.config.data
    return round(d.crop_size / d.aspect_ratio), d.crop_size

  def semantics(self, batch: dict) -> jax.Array:
    """`batch["label"]` `[B,H,W]` (+ `batch["instance"]`) → `[B,H,W,semantic_nc]` (inside jit)."""
    d = self.config.data
    return to_semantics(batch["label"], batch.get("instance"), label_nc=d.label_nc,
                        contain_dontcare_label=d.contain_dontcare_label, no_instance=d.no_instance)

  def conditioning(self, segmap: jax.Array, *, image: Optional[jax.Array] = None,
                   styles: Optional[jax.Array] = None, noise: Optional[dict] = None) -> dict:
    """G's `cond`: the segmap; the style photo or the given codes (`style`); replayed noise draws;
    `label_ids` (the class ids of the one-hot channels: the SPADE branches compute their convolution of
    the label map as a lookup, `spade_jax.nn.modulation.OneHotConv`)."""
    cond = {"segmap": segmap}
    if not self.config.data.no_instance:
      cond["instance_edge"] = segmap[..., -1:]
    cond["label_ids"] = onehot_ids(segmap[..., :-1] if "instance_edge" in cond else segmap)
    if styles is not None:
      cond["style"] = styles
    elif image is not None:
      cond["style_image"] = image
    if noise:
      cond["noise"] = noise
    return cond

  # ----- init -----
  def init(self, rng: jax.Array, batch_size: int = 1) -> dict:
    """Fresh variables for G and D with the official initialisation."""
    h, w = self.image_hw
    seg = jnp.zeros((batch_size, h, w, self.semantic_nc), jnp.float32)
    img = jnp.zeros((batch_size, h, w, self.config.model.get("output_nc", 3)), jnp.float32)
    kg, kd, kn = jax.random.split(rng, 3)
    out = {"G": self.G.init({"params": kg, "noise": kn}, self.conditioning(seg, image=img), None, train=True),
           "D": self.D.init(kd, jnp.concatenate([seg, img], -1), train=True)}
    return {k: dict(v) for k, v in out.items()}

  # ----- forward pieces -----
  def encode_styles(self, g_variables: dict, image: jax.Array, segmap: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Zencoder on a style photo: `(codes [B, K, S], presence [B, K] bool)`; presence (and the
    non-zero rows) at the encoder's resolution, half the image size."""
    params = g_variables["params"]["Zencoder"]
    out = self.encoder.apply({"params": params}, {"segmap": segmap, "style_image": image}, False)
    return out["style"], out["style_presence"]

  def presence(self, segmap: jax.Array) -> jax.Array:
    """`[B, K]`: the channels a style photo with this label map gives a code (present at half size)."""
    h, w = self.image_hw
    return region_presence(segmap, (-(-h // 4) * 2, -(-w // 4) * 2))

  def generate(self, variables: dict, segmap: jax.Array, *, image: Optional[jax.Array] = None,
               styles: Optional[jax.Array] = None, rng: Optional[jax.Array] = None,
               noise: Optional[dict] = None, train: bool = False,
               collect: bool = False) -> tuple[jax.Array, dict, dict]:
    """Official `generate_fake`: G on the segmap with the style codes of `image` (training: the real
    image, a reconstruction) or the given `styles`; noise from `rng` or the given draws `noise`
    (`{layer path: [B, W, H, 1]}`, see `spade_jax.nn.sean.ACE`); without either, no noise.

    Returns (fake image, new G batch_stats, intermediates — the Zencoder features and every ACE output
    when `collect`, else {})."""
    params, stats = _split(variables["G"])
    cond = self.conditioning(segmap, image=image, styles=styles, noise=noise)
    rngs = {} if rng is None else {"noise": rng}
    mutable = (["batch_stats"] if train else []) + (["intermediates"] if collect else [])
    out = self.G.apply({"params": params, "batch_stats": stats}, cond, None, train=train, rngs=rngs,
                       mutable=mutable or False)
    fake, upd = out if mutable else (out, {})
    return fake, upd.get("batch_stats", stats), upd.get("intermediates", {})

  def discriminate(self, variables: dict, segmap: jax.Array, fake: jax.Array, real: jax.Array,
                   train: bool = True) -> tuple[list, list, dict]:
    """D on `[seg|fake ; seg|real]` in one batch → (fake outputs, real outputs, new D batch_stats)."""
    return discriminate_pair(self.D, variables, segmap, fake, real, train)
