"""Spatially-adaptive modulation behind one interface.

Every modulation layer is a Flax module called as `layer(x, cond, train)`:
  * `x`: activations `[B, H, W, C]`;
  * `cond`: a dict of conditioning arrays, at least `"segmap"` (`[B, H0, W0, semantic_nc]`, one-hot +
    don't-care + instance-edge channels); variants may read more keys (e.g. `"style"` codes);
  * returns the modulated activations (normally `[B, H, W, C]`; a variant may append channels, the
    following convolution adapts because Flax infers input widths).

Blocks and generators receive a *factory* (`functools.partial` of a layer class) and call
`factory(name=...)`, so a new variant plugs in without touching them: register it in `MODULATIONS`.

A variant that needs more than its layers returns a `Modulation` (still callable as a factory) that also
tells the generator (see `generator_hooks`):
  * `prepare`: a module factory run once on `cond` before the stem (`prepare()(cond, train) -> cond`),
    e.g. SEAN's style encoder (`cond["style"]`) or CLADE-ICPE's distance map (`cond["dist"]`);
  * `label_at_input`: the baselines without modulation, where the label map must enter at the input
    (with a VAE stem it is concatenated to the z feature map).

Variants (`config.model.norm`): `spade` (kernel size from `norm_G`, `nhidden`), `clade`, `clade_icpe`,
`sean`, and the baselines `batch`, `instance`, `group` (that parameter-free norm alone, label map at the
input), plus `plain` (the parameter-free norm of `norm_G`, no modulation).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.nn.clade import CLADE, ICPEDist
from spade_jax.nn.convolution import onehot_conv2d
from spade_jax.nn.norms import Conv, ParamFreeNorm, kernel_init, nearest_resize

Cond = dict


def parse_spade_norm(norm_G: str) -> tuple[bool, str, int]:
  """`[spectral]spade<norm><k>x<k>` → (spectral, param-free norm kind, kernel size).

  Examples: `spectralspadesyncbatch3x3` → (True, 'syncbatch', 3); `spadeinstance5x5` → (False,
  'instance', 5). Only the kernel size of the first `<k>` is used, as officially.
  """
  spectral = norm_G.startswith("spectral")
  rest = norm_G[len("spectral"):] if spectral else norm_G
  m = re.fullmatch(r"spade(\D+)(\d+)x\d+", rest)
  if not m:
    raise ValueError(f"norm_G={norm_G!r} is not a SPADE norm string: expected "
                     "'[spectral]spade<norm><k>x<k>', e.g. 'spectralspadesyncbatch3x3'")
  kind = {"sync_batch": "syncbatch"}.get(m.group(1), m.group(1))
  if kind not in ("batch", "syncbatch", "instance", "group", "none"):
    raise ValueError(f"norm_G={norm_G!r}: unknown parameter-free norm {m.group(1)!r} "
                     "(expected batch, syncbatch, instance, group or none)")
  return spectral, kind, int(m.group(2))


# SPADE's shared conv on the label map as a lookup when `cond["label_ids"]` is given (False: always dense).
USE_ONEHOT_LOOKUP = True


class OneHotConv(nn.Module):
  """The `Conv` (same parameters: `kernel` `[k, k, segmap channels, features]`, `bias`) applied to
  `cond["segmap"]` nearest-resized to `size`, computed from `cond["label_ids"]` as a lookup.

  Contract of `cond["label_ids"]` (`[B, H, W]` int, the segmap's resolution): the segmap's class
  channels (all but `cond["instance_edge"]`'s last channel, when present) are `one_hot(label_ids)`
  (see `spade_jax.data.labels.onehot_ids`). The edge channel goes through an ordinary convolution.
  """

  features: int
  kernel_size: int = 3
  w_init: Callable[..., Any] = kernel_init()

  @nn.compact
  def __call__(self, cond: Cond, size: tuple[int, int]) -> jax.Array:
    k = self.kernel_size
    seg = cond["segmap"]
    kernel = self.param("kernel", self.w_init, (k, k, seg.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    ids = nearest_resize(cond["label_ids"][..., None], size)[..., 0]
    extra = None
    if "instance_edge" in cond:
      extra = nearest_resize(cond["instance_edge"], size).astype(jnp.float32)
    return onehot_conv2d(ids, kernel, k // 2, extra) + bias


class SPADE(nn.Module):
  """SPADE: `norm(x) · (1 + γ(seg)) + β(seg)`, γ/β from a shared conv + ReLU on the resized segmap.
  With `params_only`, returns `(γ, β)` and has no norm (SEAN's ACE blends them with its own)."""

  param_free: str = "syncbatch"
  kernel_size: int = 3
  nhidden: int = 128
  axis_name: Optional[str] = None
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None
  params_only: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, cond: Cond, train: bool):
    if not self.params_only:
      normalized = ParamFreeNorm(self.param_free, axis_name=self.axis_name, name="param_free_norm")(x, train)
    dtype = self.dtype or x.dtype
    conv = functools.partial(Conv, kernel_size=self.kernel_size, w_init=self.w_init, dtype=dtype)
    if "label_ids" in cond and USE_ONEHOT_LOOKUP:
      shared = OneHotConv(self.nhidden, self.kernel_size, w_init=self.w_init, name="mlp_shared")
      actv = nn.relu(shared(cond, x.shape[1:3]).astype(dtype))
    else:
      seg = nearest_resize(cond["segmap"], x.shape[1:3]).astype(dtype)
      actv = nn.relu(conv(self.nhidden, name="mlp_shared")(seg))
    gamma = conv(x.shape[-1], name="mlp_gamma")(actv)
    beta = conv(x.shape[-1], name="mlp_beta")(actv)
    if self.params_only:
      return gamma, beta
    return normalized * (1 + gamma) + beta


class PlainNorm(nn.Module):
  """No modulation: the parameter-free norm alone (baselines; the label map enters at the input).

  Group norm uses gcd(num_groups, C) groups, so widths such as 1024 + semantic_nc (a label map
  concatenated to the VAE stem) work."""

  param_free: str = "syncbatch"
  axis_name: Optional[str] = None
  num_groups: int = 32

  @nn.compact
  def __call__(self, x: jax.Array, cond: Cond, train: bool) -> jax.Array:
    del cond
    groups = math.gcd(self.num_groups, x.shape[-1])
    return ParamFreeNorm(self.param_free, axis_name=self.axis_name, num_groups=groups,
                         name="param_free_norm")(x, train)


@dataclasses.dataclass(frozen=True)
class Modulation:
  """A layer factory (`modulation(name=...)` builds one layer) plus what the variant needs from the
  generator around its layers (see the module docstring)."""

  layer: Callable[..., nn.Module]
  prepare: Optional[Callable[..., nn.Module]] = None
  label_at_input: bool = False

  def __call__(self, **kwargs) -> nn.Module:
    return self.layer(**kwargs)


def generator_hooks(modulation: Callable[..., nn.Module]) -> tuple[Optional[Callable[..., nn.Module]], bool]:
  """(prepare factory or None, label_at_input) for any layer factory (a plain factory has neither)."""
  if isinstance(modulation, Modulation):
    return modulation.prepare, modulation.label_at_input
  return None, False


def _spade(model_cfg, param_free, kernel_size, axis_name, init, dtype):
  return functools.partial(SPADE, param_free=param_free, kernel_size=kernel_size,
                           nhidden=model_cfg.nhidden, axis_name=axis_name, w_init=init, dtype=dtype)


def _plain(model_cfg, param_free, kernel_size, axis_name, init, dtype):
  del model_cfg, kernel_size, init, dtype
  return functools.partial(PlainNorm, param_free=param_free, axis_name=axis_name)


def _clade(model_cfg, param_free, kernel_size, axis_name, init, dtype, use_dist=False):
  del kernel_size  # CLADE has no convolution on the label map
  layer = functools.partial(CLADE, param_free=param_free, use_dist=use_dist, axis_name=axis_name,
                            w_init=init, dtype=dtype)
  prepare = (functools.partial(ICPEDist, skip_class=model_cfg.get("icpe_skip_class", 0), name="icpe")
             if use_dist else None)
  return Modulation(layer, prepare=prepare)


def _sean(model_cfg, param_free, kernel_size, axis_name, init, dtype):
  """SEAN's layers (`spade_jax.nn.sean`); their norm is always sync batch norm, as officially (`param_free`
  is not used). One style Linear per segmap channel (`sean_per_class_fc`), or one shared."""
  del param_free
  from spade_jax.nn.sean import sean_modulation  # sean.py builds on SPADE above
  return sean_modulation(kernel_size=kernel_size, nhidden=model_cfg.nhidden,
                         style_length=model_cfg.get("sean_style_dim", 512),
                         encoder_ngf=model_cfg.get("sean_encoder_ngf", 32),
                         num_style_fc=0 if model_cfg.get("sean_per_class_fc", True) else 1,
                         no_style_blocks=tuple(model_cfg.get("sean_no_style_blocks", ("up_3",))),
                         axis_name=axis_name, w_init=init, dtype=dtype, encoder_name="style_encoder")


def _baseline(kind: str):
  """No modulation, `kind` parameter-free norm (BN = the synchronized BN of SPADE's default), label map at
  the input (pix2pixHD style)."""
  def build(model_cfg, param_free, kernel_size, axis_name, init, dtype):
    del param_free, kernel_size, init, dtype
    layer = functools.partial(PlainNorm, param_free=kind, axis_name=axis_name,
                              num_groups=model_cfg.get("num_groups", 32))
    return Modulation(layer, label_at_input=True)
  return build


# name → builder(model_cfg, param_free, kernel_size, axis_name, init, dtype) → layer factory
MODULATIONS: dict[str, Callable[..., Callable[..., nn.Module]]] = {
    "spade": _spade,
    "plain": _plain,
    "clade": _clade,
    "clade_icpe": functools.partial(_clade, use_dist=True),
    "sean": _sean,
    "batch": _baseline("syncbatch"),
    "instance": _baseline("instance"),
    "group": _baseline("group"),
}


def make_modulation(model_cfg, *, axis_name: Optional[str] = None, dtype: Any = None
                    ) -> Callable[..., nn.Module]:
  """Layer factory for `model_cfg.norm` with the param-free norm / kernel size from `model_cfg.norm_G`."""
  _, param_free, ks = parse_spade_norm(model_cfg.norm_G)
  name = model_cfg.get("norm", "spade")
  if name not in MODULATIONS:
    raise ValueError(f"model.norm={name!r} is not a known modulation; known: {sorted(MODULATIONS)}")
  init = kernel_init(model_cfg.get("init_type", "xavier"), model_cfg.get("init_variance", 0.02))
  return MODULATIONS[name](model_cfg, param_free, ks, axis_name, init, dtype)
