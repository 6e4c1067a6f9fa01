"""The SPADE model as pure functions over explicit variables: semantics → (E) → G → D.

`variables` is `{"G": {...}, "D": {...}, "E": {...}}`, each a Flax variable dict with `params` and
`batch_stats` (BN running statistics, spectral-norm u/v). Every function returns the updated
`batch_stats` of the networks it ran in training mode (official semantics: each training-mode forward
advances BN running stats and one spectral-norm power iteration).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp

from spade_jax.gan.discriminator import discriminate_pair
from spade_jax.data.labels import onehot_ids, semantic_nc, to_semantics
from spade_jax.models.spade import factory
from spade_jax.models.spade.encoder import reparameterize


def _split(variables: dict) -> tuple[dict, dict]:
  return variables["params"], variables.get("batch_stats", {})


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: usable as a static jit argument
class SPADEModel:
  config: Any
  axis_name: Optional[str] = None

  def __post_init__(self):
    object.__setattr__(self, "G", factory.build_generator(self.config, self.axis_name))
    object.__setattr__(self, "D", factory.build_discriminator(self.config, self.axis_name))
    object.__setattr__(self, "E", factory.build_encoder(self.config, self.axis_name))

  # ----- shapes -----
  @property
  def semantic_nc(self) -> int:
    d = self.config.data
    return semantic_nc(d.label_nc, d.contain_dontcare_label, d.no_instance)

  @property
  def image_hw(self) -> tuple[int, int]:
    d = self.config.data
    return round(d.crop_size / d.aspect_ratio), d.crop_size

  @property
  def region_styles(self) -> bool:
    """Whether G reads per-region style codes from a style photo (SEAN): it then needs `image` in
    `generate`, without a VAE too."""
    return self.config.model.norm == "sean"

  def semantics(self, batch: dict) -> jax.Array:
    """`batch["label"]` `[B,H,W]` (+ `batch["instance"]`) → `[B,H,W,semantic_nc]` (inside jit)."""
    d = self.config.data
    return to_semantics(batch["label"], batch.get("instance"), label_nc=d.label_nc,
                        contain_dontcare_label=d.contain_dontcare_label, no_instance=d.no_instance)

  def conditioning(self, segmap: jax.Array, image: Optional[jax.Array] = None,
                   extra: Optional[dict] = None) -> dict:
    """G's `cond`: `segmap` (the official input, edges included); `instance_edge` (its last channel) when
    the layout has one, so that variants can tell class channels from the edge; `style_image` when an
    image is given (SEAN's style encoder reads it); then `extra` (e.g. SEAN `style` codes, ICPE `dist`).
    `label_ids`: the class ids of the segmap's one-hot channels (`semantics` makes them one-hot), with
    which SPADE computes its convolution of the label map as a lookup (same numbers, a fraction of the
    work: `spade_jax.nn.modulation.OneHotConv`)."""
    cond = {"segmap": segmap}
    if not self.config.data.no_instance:
      cond["instance_edge"] = segmap[..., -1:]
    cond["label_ids"] = onehot_ids(segmap[..., :-1] if "instance_edge" in cond else segmap)
    if image is not None:
      cond["style_image"] = image
    cond.update(extra or {})
    return cond

  # ----- init -----
  def init(self, rng: jax.Array, batch_size: int = 1) -> dict:
    """Fresh variables for G, D (and E) with the official initialisation."""
    h, w = self.image_hw
    seg = jnp.zeros((batch_size, h, w, self.semantic_nc), jnp.float32)
    img = jnp.zeros((batch_size, h, w, self.config.model.get("output_nc", 3)), jnp.float32)
    kg, kd, ke, kz = jax.random.split(rng, 4)
    z = jnp.zeros((batch_size, self.config.model.z_dim)) if self.config.model.use_vae else None
    out = {"G": self.G.init({"params": kg, "noise": kz}, self.conditioning(seg, img), z, train=True)}
    out["D"] = self.D.init(kd, jnp.concatenate([seg, img], -1), train=True)
    if self.E is not None:
      out["E"] = self.E.init(ke, img, train=True)
    return {k: dict(v) for k, v in out.items()}

  # ----- forward pieces -----
  def encode(self, variables: dict, image: jax.Array, train: bool):
    """→ ((mu, logvar), new E batch_stats)."""
    params, stats = _split(variables)
    if train:
      out, upd = self.E.apply({"params": params, "batch_stats": stats}, image, train=True,
                              mutable=["batch_stats"])
      return out, upd["batch_stats"]
    return self.E.apply({"params": params, "batch_stats": stats}, image, train=False), stats

  def generate(self, variables: dict, segmap: jax.Array, *, image: Optional[jax.Array] = None,
               z: Optional[jax.Array] = None, eps: Optional[jax.Array] = None,
               rng: Optional[jax.Array] = None, train: bool = False,
               cond: Optional[dict] = None) -> tuple[jax.Array, dict, dict]:
    """Official `generate_fake`. With a VAE: z from the encoder on `image` (style-guided) with `eps`
    (or a draw from `rng`), or the given `z`, or z ~ N(0, I) from `rng` (multimodal).
    `image` is also G's style image (SEAN); `cond` adds entries to G's conditioning (`conditioning`);
    with `rng`, G gets a `noise` RNG stream (SEAN's noise injection).

    Returns (fake image, new batch_stats {"G": .., "E": ..}, extras {"mu", "logvar"} when encoded).
    """
    extras, new_stats = {}, {}
    use_vae = self.config.model.use_vae
    if use_vae and z is None:
      if image is not None:
        (mu, logvar), new_stats["E"] = self.encode(variables["E"], image, train)
        if eps is None:
          if rng is None:
            raise ValueError("generate: encoding a style image needs `eps` or `rng`")
          rng, sub = jax.random.split(rng)
          eps = jax.random.normal(sub, mu.shape, mu.dtype)
        z = reparameterize(mu, logvar, eps)
        extras = {"mu": mu, "logvar": logvar}
      else:
        if rng is None:
          raise ValueError("generate: a VAE generator without `z` or a style `image` needs `rng`")
        z = jax.random.normal(rng, (segmap.shape[0], self.config.model.z_dim), jnp.float32)
    params, stats = _split(variables["G"])
    g_cond = self.conditioning(segmap, image, cond)
    rngs = {} if rng is None else {"noise": jax.random.fold_in(rng, 1)}
    if train:
      fake, upd = self.G.apply({"params": params, "batch_stats": stats}, g_cond, z, train=True,
                               mutable=["batch_stats"], rngs=rngs)
      new_stats["G"] = upd["batch_stats"]
    else:
      fake = self.G.apply({"params": params, "batch_stats": stats}, g_cond, z, train=False, rngs=rngs)
      new_stats["G"] = stats
    return fake, new_stats, extras

  def discriminate(self, variables: dict, segmap: jax.Array, fake: jax.Array, real: jax.Array,
                   train: bool = True) -> tuple[list, list, dict]:
    """D on `[seg|fake ; seg|real]` in one batch → (fake outputs, real outputs, new D batch_stats)."""
    return discriminate_pair(self.D, variables, segmap, fake, real, train)
