"""The pix2pixHD model as pure functions over explicit variables: label map → input label → (E) → G → D.

`variables` is `{"G": {...}, "D": {...}[, "E": {...}]}`, each a Flax variable dict with `params` and
`batch_stats` (BatchNorm running statistics with `model.norm = "batch"`; empty with instance norm).

Inputs (NVIDIA/pix2pixHD `Pix2PixHDModel.encode_input`): the one-hot label map (`label_nc` channels, no
don't-care channel) followed by the instance-edge map unless `no_instance` = `input_label`. With
`instance_feat` / `label_feat` the generator also reads `feat_num` feature channels (the encoder's output
on the real photo, averaged per instance — or per class with `label_feat`); the discriminator reads
`[input_label, image]` and never the features.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
from flax import linen as nn

from spade_jax.data.labels import to_semantics
from spade_jax.gan.discriminator import MultiscaleDiscriminator
from spade_jax.models.pix2pixhd.networks import Encoder, Generator, official_init
from spade_jax.nn.precision import compute_dtype


def n_local_enhancers(config) -> int:
  m = config.model
  if m.netG not in ("global", "local"):
    raise ValueError(f"model.netG={m.netG!r}: expected 'global' or 'local'")
  return int(m.n_local_enhancers) if m.netG == "local" else 0


def uses_features(config) -> bool:
  return bool(config.model.instance_feat or config.model.label_feat)


def build_generator(config, axis_name: Optional[str] = None) -> Generator:
  m = config.model
  return Generator(output_nc=int(m.output_nc), ngf=int(m.ngf), n_downsample_global=int(m.n_downsample_global),
                   n_blocks_global=int(m.n_blocks_global), n_local_enhancers=n_local_enhancers(config),
                   n_blocks_local=int(m.n_blocks_local), norm=m.norm, axis_name=axis_name,
                   dtype=compute_dtype(config))


def build_discriminator(config, axis_name: Optional[str] = None) -> MultiscaleDiscriminator:
  """pix2pixHD's multiscale PatchGAN: the shared one with biases on every conv and its `n_layers_D` in
  pix2pixHD's count (ours + 1; see `spade_jax.gan.discriminator.NLayerDiscriminator`)."""
  m = config.model
  return MultiscaleDiscriminator(num_D=int(m.num_D), ndf=int(m.ndf), n_layers_D=int(m.n_layers_D) + 1, norm_D=m.norm,
                                 axis_name=axis_name, w_init=nn.initializers.zeros, dtype=compute_dtype(config),
                                 intermediate=not m.no_ganFeat_loss, conv_bias=True)


def build_encoder(config, axis_name: Optional[str] = None) -> Optional[Encoder]:
  m = config.model
  if not uses_features(config):
    return None
  return Encoder(feat_num=int(m.feat_num), nef=int(m.nef), n_downsampling=int(m.n_downsample_E), norm=m.norm,
                 axis_name=axis_name, dtype=compute_dtype(config))


def _apply(module, variables: dict, *args, train: bool, intermediates: bool = False):
  """→ (output, new batch_stats, intermediates). Training mode advances BN running statistics."""
  mutable = (["batch_stats"] if train else []) + (["intermediates"] if intermediates else [])
  v = {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}
  if mutable:
    out, upd = module.apply(v, *args, train=train, mutable=mutable)
  else:
    out, upd = module.apply(v, *args, train=train), {}
  stats = upd.get("batch_stats", v["batch_stats"])
  return out, stats, upd.get("intermediates", {})


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: usable as a static jit argument
class Pix2PixHDModel:
  config: Any
  axis_name: Optional[str] = None

  def __post_init__(self):
    object.__setattr__(self, "G", build_generator(self.config, self.axis_name))
    object.__setattr__(self, "D", build_discriminator(self.config, self.axis_name))
    object.__setattr__(self, "E", build_encoder(self.config, self.axis_name))

  # ----- shapes -----
  @property
  def label_channels(self) -> int:
    """Channels of `input_label`: label_nc one-hot (+ 1 edge channel)."""
    d = self.config.data
    return int(d.label_nc) + int(not d.no_instance)

  @property
  def feat_channels(self) -> int:
    return int(self.config.model.feat_num) if uses_features(self.config) else 0

  @property
  def image_hw(self) -> tuple[int, int]:
    d = self.config.data
    return round(d.crop_size / d.aspect_ratio), int(d.crop_size)

  @property
  def size_multiple(self) -> int:
    """Image sides must be multiples of this: 2^(n_downsample_global + n_local_enhancers)."""
    return 2 ** (int(self.config.model.n_downsample_global) + n_local_enhancers(self.config))

  def input_label(self, batch: dict) -> jax.Array:
    """`batch["label"]` `[B, H, W]` ids (+ `batch["instance"]`) → `[B, H, W, label_channels]` float32."""
    d = self.config.data
    return to_semantics(batch["label"], batch.get("instance"), label_nc=int(d.label_nc),
                        contain_dontcare_label=False, no_instance=bool(d.no_instance))

  def pooling_ids(self, batch: dict) -> jax.Array:
    """The map the encoder's features are averaged over: instance ids, or the label map (`label_feat`)."""
    if self.config.model.label_feat or batch.get("instance") is None:
      return batch["label"]
    return batch["instance"]

  # ----- init -----
  def init(self, rng: jax.Array, batch_size: int = 1) -> dict:
    """Fresh variables with the official initialisation (`networks.official_init`)."""
    h, w = self.image_hw
    lab = jnp.zeros((batch_size, h, w, self.label_channels), jnp.float32)
    img = jnp.zeros((batch_size, h, w, int(self.config.model.output_nc)), jnp.float32)
    g_in = jnp.zeros((batch_size, h, w, self.label_channels + self.feat_channels), jnp.float32)
    kg, kd, ke = jax.random.split(rng, 3)
    nets = {"G": (self.G, kg, (g_in,)), "D": (self.D, kd, (jnp.concatenate([lab, img], -1),))}
    if self.E is not None:
      nets["E"] = (self.E, ke, (img, jnp.zeros((batch_size, h, w), jnp.int32)))
    out = {}
    for name, (module, key, args) in nets.items():
      v = dict(module.init(key, *args, train=True))
      v["params"] = official_init(jax.random.fold_in(key, 1), v["params"])
      v.setdefault("batch_stats", {})
      out[name] = v
    return out

  # ----- forward pieces -----
  def encode(self, variables: dict, image: jax.Array, ids: Optional[jax.Array], *, train: bool,
             intermediates: bool = False):
    """E on the real photo, averaged over `ids` → (features [B, H, W, feat_num], new stats, intermediates)."""
    return _apply(self.E, variables, image, ids, train=train, intermediates=intermediates)

  def generator_input(self, input_label: jax.Array, features: Optional[jax.Array]) -> jax.Array:
    if self.feat_channels:
      if features is None:
        raise ValueError("this generator reads encoder features (instance_feat / label_feat): give a "
                         "feature map or the photo to encode")
      return jnp.concatenate([input_label, features.astype(input_label.dtype)], -1)
    return input_label

  def generate(self, variables: dict, g_input: jax.Array, *, train: bool, intermediates: bool = False):
    """G → (fake [B, H, W, 3] float32 in (−1, 1), new G stats, intermediates)."""
    return _apply(self.G, variables, g_input, train=train, intermediates=intermediates)

  def discriminate(self, variables: dict, input_label: jax.Array, image: jax.Array, *, train: bool):
    """D on `[input_label, image]` → (per scale (full resolution first) the list of every layer's output,
    the last the prediction map; new D stats)."""
    d_in = jnp.concatenate([input_label, image.astype(input_label.dtype)], -1)
    out, stats, _ = _apply(self.D, variables, d_in, train=train)
    return out, stats
