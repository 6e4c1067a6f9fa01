"""SPADE residual block (NVlabs/SPADE `models/networks/architecture.py`: `SPADEResnetBlock`)."""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax

from spade_jax.nn.modulation import Cond
from spade_jax.nn.norms import Conv, kernel_init


def lrelu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, 0.2)


class SPADEResBlock(nn.Module):
  """`shortcut(x) + conv_1(act(mod_1(conv_0(act(mod_0(x))))))`; learned 1×1 shortcut when widths differ.

  `modulation` is a layer factory (see `spade_jax.nn.modulation`); `spectral` wraps conv_0/1/s in
  spectral norm. Submodule names follow the official state dict (`norm_0`, `conv_0`, ..., `conv_s`).
  """

  features: int
  modulation: Callable[..., nn.Module]
  spectral: bool = True
  w_init: Callable[..., Any] = kernel_init()
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, cond: Cond, train: bool) -> jax.Array:
    fin, fout = x.shape[-1], self.features
    fmid = min(fin, fout)
    conv = functools.partial(Conv, spectral=self.spectral, w_init=self.w_init, dtype=self.dtype)
    if fin != fout:
      x_s = conv(fout, 1, use_bias=False, name="conv_s")(self.modulation(name="norm_s")(x, cond, train), train)
    else:
      x_s = x
    dx = conv(fmid, 3, name="conv_0")(lrelu(self.modulation(name="norm_0")(x, cond, train)), train)
    dx = conv(fout, 3, name="conv_1")(lrelu(self.modulation(name="norm_1")(dx, cond, train)), train)
    return x_s + dx
