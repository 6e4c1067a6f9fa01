"""pix2pixHD's generator and feature encoder (NVIDIA/pix2pixHD `models/networks.py`) as Flax modules, NHWC.

* `ResnetBlock`: reflect-pad 1 → conv 3×3 → norm → ReLU → reflect-pad 1 → conv 3×3 → norm, plus the input.
* `GlobalGenerator`: reflect-pad 3 → conv 7×7 (ngf) → norm → ReLU; `n_downsampling` × [conv 3×3 stride 2 zero-pad
  1 (×2 channels) → norm → ReLU]; `n_blocks` ResnetBlocks; `n_downsampling` × [transposed conv 3×3 stride 2
  (padding 1, output padding 1: exactly ×2) (½ channels) → norm → ReLU]; reflect-pad 3 → conv 7×7 → tanh.
  With `final=False` (inside a LocalEnhancer) the last pad / conv / tanh are left out: the output is the
  last post-ReLU map (`ngf` channels).
* `Generator`: the GlobalGenerator (`global`) alone, or, with `n_local_enhancers = L > 0`, the global part built
  with `ngf · 2^L` and run on the input average-pooled L times, then per enhancer n = 1..L (`local_<n>`, width
  c = ngf · 2^(L−n)): `down` branch [reflect-pad 3, conv 7×7 (c), norm, ReLU, conv 3×3 s2 (2c), norm, ReLU] on the
  input pooled L−n times, summed with the coarser output, then `n_blocks_local` ResnetBlocks(2c), transposed
  conv (c), norm, ReLU, and for the last enhancer reflect-pad 3 → conv 7×7 → tanh.
* `Encoder`: reflect-pad 3 → conv 7×7 (nef) → norm → ReLU; n × [conv s2]; n × [transposed conv]; reflect-pad 3 →
  conv 7×7 (feat_num) → tanh; then every channel is replaced by its mean over each instance of each sample
  (`instance_average`: a sort + segment sum, no loop over instances; gradients flow through the means).

Every conv has a bias (also before a norm). Norms: `instance` (no affine parameters, no running
statistics) or `batch` (BatchNorm with affine scale / bias). Down-sampling between scales:
`avg_pool2d(3, stride 2, padding 1, count_include_pad=False)`. Weights are initialised as officially by
`official_init` (kernels N(0, 0.02), biases PyTorch's default U(±1/√fan_in), BN scales N(1, 0.02)).
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from spade_jax.nn.norms import Conv, ParamFreeNorm, avg_pool_3x3_s2
from spade_jax.nn.sean import ConvTranspose2x

NORMS = ("instance", "batch")
_ZEROS = nn.initializers.zeros  # the real init is `official_init` (one pass over the whole tree)


def reflect_pad(x: jax.Array, p: int) -> jax.Array:
  """`ReflectionPad2d(p)` on NHWC (the edge pixel is not repeated)."""
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


class Norm(nn.Module):
  """The official `get_norm_layer`: InstanceNorm2d(affine=False) or BatchNorm2d(affine=True)."""

  kind: str = "instance"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.kind not in NORMS:
      raise ValueError(f"model.norm={self.kind!r}: expected one of {NORMS}")
    if self.kind == "instance":
      return ParamFreeNorm("instance", name="norm")(x, train)
    kind = "syncbatch" if self.axis_name else "batch"
    y = ParamFreeNorm(kind, axis_name=self.axis_name, name="norm")(x, train)
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
    bias = self.param("bias", _ZEROS, (c,), jnp.float32)
    return y * scale.astype(y.dtype) + bias.astype(y.dtype)


class Unit(nn.Module):
  """conv (or ×2 transposed conv) → norm → ReLU; `pad` reflect-pads first (then the conv pads nothing)."""

  features: int
  kernel_size: int = 3
  stride: int = 1
  pad: int = 0  # reflection padding before the conv
  zero_pad: int = 0  # the conv's own zero padding
  transposed: bool = False
  norm: str = "instance"
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.transposed:
      x = ConvTranspose2x(self.features, w_init=_ZEROS, dtype=self.dtype, name="conv")(x)
    else:
      if self.pad:
        x = reflect_pad(x, self.pad)
      x = Conv(self.features, self.kernel_size, self.stride, self.zero_pad, w_init=_ZEROS, dtype=self.dtype,
               name="conv")(x, train)
    return nn.relu(Norm(self.norm, self.axis_name, name="norm")(x, train))


class OutConv(nn.Module):
  """reflect-pad 3 → conv 7×7 → tanh (float32 output)."""

  features: int
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = Conv(self.features, 7, 1, 0, w_init=_ZEROS, dtype=self.dtype, name="conv")(reflect_pad(x, 3), train)
    return jnp.tanh(y.astype(jnp.float32))


class ResnetBlock(nn.Module):
  norm: str = "instance"
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    c = x.shape[-1]
    y = Unit(c, 3, pad=1, norm=self.norm, axis_name=self.axis_name, dtype=self.dtype, name="unit_0")(x, train)
    y = Conv(c, 3, 1, 0, w_init=_ZEROS, dtype=self.dtype, name="conv_1")(reflect_pad(y, 1), train)
    y = Norm(self.norm, self.axis_name, name="norm_1")(y, train)
    return x + y.astype(x.dtype)


class GlobalGenerator(nn.Module):
  output_nc: int = 3
  ngf: int = 64
  n_downsampling: int = 4
  n_blocks: int = 9
  norm: str = "instance"
  final: bool = True
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    unit = functools.partial(Unit, norm=self.norm, axis_name=self.axis_name, dtype=self.dtype)
    if self.dtype is not None:
      x = x.astype(self.dtype)
    x = unit(self.ngf, 7, pad=3, name="conv_in")(x, train)
    c = self.ngf
    for i in range(self.n_downsampling):
      c *= 2
      x = unit(c, 3, 2, zero_pad=1, name=f"down_{i}")(x, train)
    for b in range(self.n_blocks):
      x = ResnetBlock(self.norm, self.axis_name, self.dtype, name=f"block_{b}")(x, train)
    for i in range(self.n_downsampling):
      c //= 2
      x = unit(c, transposed=True, name=f"up_{i}")(x, train)
    if not self.final:
      return x
    return OutConv(self.output_nc, self.dtype, name="conv_out")(x, train)


class LocalEnhancer(nn.Module):
  """Enhancer n of L: `down` on its input scale, + the coarser output, blocks, ×2 up (+ the output conv)."""

  ngf: int  # c = ngf · 2^(L − n)
  n_blocks: int = 3
  output_nc: int = 3
  last: bool = True
  norm: str = "instance"
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, coarse: jax.Array, train: bool) -> jax.Array:
    unit = functools.partial(Unit, norm=self.norm, axis_name=self.axis_name, dtype=self.dtype)
    if self.dtype is not None:
      x = x.astype(self.dtype)
    y = unit(self.ngf, 7, pad=3, name="conv_in")(x, train)
    y = unit(2 * self.ngf, 3, 2, zero_pad=1, name="down")(y, train)
    self.sow("intermediates", "down_output", y)
    y = y + coarse.astype(y.dtype)
    for b in range(self.n_blocks):
      y = ResnetBlock(self.norm, self.axis_name, self.dtype, name=f"block_{b}")(y, train)
    y = unit(self.ngf, transposed=True, name="up")(y, train)
    if not self.last:
      return y
    return OutConv(self.output_nc, self.dtype, name="conv_out")(y, train)


class Generator(nn.Module):
  """GlobalGenerator (`n_local_enhancers = 0`) or the LocalEnhancer generator around it (see module doc).

  With the `intermediates` collection mutable it sows, per enhancer, `global_input` (the pooled input of the
  global part), `global_output`, and `local_<n>/down_output` (each enhancer's downsampling branch)."""

  output_nc: int = 3
  ngf: int = 64
  n_downsample_global: int = 4
  n_blocks_global: int = 9
  n_local_enhancers: int = 0
  n_blocks_local: int = 3
  norm: str = "instance"
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    n_loc = self.n_local_enhancers
    common = dict(norm=self.norm, axis_name=self.axis_name, dtype=self.dtype)
    glob = GlobalGenerator(self.output_nc, self.ngf * 2 ** n_loc, self.n_downsample_global, self.n_blocks_global,
                           final=n_loc == 0, name="global", **common)
    if n_loc == 0:
      return glob(x, train)
    pyramid = [x]
    for _ in range(n_loc):
      pyramid.append(avg_pool_3x3_s2(pyramid[-1]))
    self.sow("intermediates", "global_input", pyramid[-1])
    y = glob(pyramid[-1], train)
    self.sow("intermediates", "global_output", y)
    for n in range(1, n_loc + 1):
      y = LocalEnhancer(self.ngf * 2 ** (n_loc - n), self.n_blocks_local, self.output_nc, last=n == n_loc,
                        name=f"local_{n}", **common)(pyramid[n_loc - n], y, train)
    return y


def instance_average(features: jax.Array, ids: jax.Array) -> jax.Array:
  """Each channel of `features [B, H, W, C]` replaced by its mean over the pixels of each id of `ids
  [B, H, W]` (per sample: the same id in two samples is averaged separately). Float32."""
  b, h, w, c = features.shape
  n = h * w
  f = features.reshape(b, n, c).astype(jnp.float32)
  flat = ids.reshape(b, n).astype(jnp.int32)

  def one(fi, ii):
    _, inv = jnp.unique(ii, size=n, fill_value=0, return_inverse=True)
    inv = inv.reshape(n)
    sums = jax.ops.segment_sum(fi, inv, num_segments=n)
    count = jax.ops.segment_sum(jnp.ones((n,), jnp.float32), inv, num_segments=n)
    return (sums / jnp.maximum(count, 1.0)[:, None])[inv]

  return jax.vmap(one)(f, flat).reshape(b, h, w, c)


class Encoder(nn.Module):
  """The instance-wise average-pooling feature encoder: a GlobalGenerator without residual blocks
  (`trunk`: nef, n_downsampling, feat_num outputs, tanh), then `instance_average`."""

  feat_num: int = 3
  nef: int = 16
  n_downsampling: int = 4
  norm: str = "instance"
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, image: jax.Array, ids: Optional[jax.Array], train: bool) -> jax.Array:
    """`image [B, H, W, 3]` in [-1, 1], `ids [B, H, W]` → pooled features `[B, H, W, feat_num]` (float32).
    `ids=None` returns the features before pooling. Sows `raw` (before pooling) into `intermediates`."""
    raw = GlobalGenerator(self.feat_num, self.nef, self.n_downsampling, 0, self.norm, final=True,
                          axis_name=self.axis_name, dtype=self.dtype, name="trunk")(image, train)
    self.sow("intermediates", "raw", raw)
    return raw if ids is None else instance_average(raw, ids)


def _is_transposed(path: tuple) -> bool:
  return len(path) >= 2 and path[-2] == "conv" and len(path) >= 3 and str(path[-3]).startswith("up")


def official_init(key: jax.Array, params: dict) -> dict:
  """The official `weights_init` on a params tree: every conv kernel ~ N(0, 0.02) and its bias PyTorch's
  default U(±1/√fan_in) (fan_in = in·k·k; for a transposed conv PyTorch counts out·k·k), BatchNorm scales
  ~ N(1, 0.02) and biases 0. `key` may be any typed key (e.g. the fast init PRNG)."""
  from flax import traverse_util
  flat = traverse_util.flatten_dict(params)
  out = {}
  for i, (path, leaf) in enumerate(sorted(flat.items())):
    k = jax.random.fold_in(key, i)
    parent = path[:-1]
    if path[-1] == "kernel":
      out[path] = 0.02 * jax.random.normal(k, leaf.shape, jnp.float32)
    elif path[-1] == "bias" and parent + ("kernel",) in flat:
      kshape = flat[parent + ("kernel",)].shape
      fan_in = kshape[0] * kshape[1] * (kshape[3] if _is_transposed(path) else kshape[2])
      bound = 1.0 / float(fan_in) ** 0.5
      out[path] = jax.random.uniform(k, leaf.shape, jnp.float32, -bound, bound)
    elif path[-1] == "scale":
      out[path] = 1.0 + 0.02 * jax.random.normal(k, leaf.shape, jnp.float32)
    else:
      out[path] = jnp.zeros(leaf.shape, jnp.float32)
  return traverse_util.unflatten_dict(out)
