"""2-D convolution (NHWC, HWIO kernel, PyTorch-style symmetric padding) with two lowerings.

* `library`: `lax.conv_general_dilated` (XLA's convolution: XNNPACK/YNNPACK or Eigen on CPU, cuDNN on
  GPU).
* `matmul`: patches (im2col, `[B·Ho·Wo, kh·kw·Cin]` in (kh, kw, Cin) order) times the kernel viewed as
  `[kh·kw·Cin, Cout]` (a free reshape of HWIO). Its gradients are plain matmuls too, with no transposed or
  flipped copy of the kernel.

The same sums either way (only the summation order differs). On XLA:CPU the library lowering is poor
when the output is small next to the kernel, the shape of SPADE's 1024-channel stem and middle blocks
at low resolution (2×2 … 8×8) and of the discriminator's last wide layers: measured there, the matmul
lowering is 3–70× faster forward and backward, while at large spatial sizes the library wins. `auto`
picks `matmul` on CPU when `B·Ho·Wo <= MATMUL_ROWS_PER_COUT · Cout` (see `bench/results/
profile_spade_cpu.md`), `library` elsewhere.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

# `auto` uses the matmul lowering on CPU when output rows (B·Ho·Wo) <= this × Cout (0: never).
MATMUL_ROWS_PER_COUT = 2.0
# `auto` on CPU, library lowering: take the kernel gradient as patchesᵀ · dy (a matmul) instead of XLA's
# weight-gradient convolution (False: XLA's gradient throughout).
MATMUL_KERNEL_GRAD = True
IMPLS = ("auto", "library", "matmul", "library_mmgrad")


def output_hw(h: int, w: int, k: int, stride: int, pad: int) -> tuple[int, int]:
  return (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1


def _default_backend_is_cpu() -> bool:
  return jax.default_backend() == "cpu"


def choose_impl(x_shape, kernel_shape, stride: int, pad: int, impl: str = "auto") -> str:
  if impl not in IMPLS:
    raise ValueError(f"conv impl={impl!r}: expected one of {IMPLS}")
  if impl != "auto":
    return impl
  k, cout = kernel_shape[0], kernel_shape[-1]
  ho, wo = output_hw(x_shape[1], x_shape[2], k, stride, pad)
  rows = x_shape[0] * ho * wo
  cpu = _default_backend_is_cpu()
  if cpu and MATMUL_ROWS_PER_COUT > 0 and rows <= MATMUL_ROWS_PER_COUT * cout:
    return "matmul"
  return "library_mmgrad" if cpu and MATMUL_KERNEL_GRAD else "library"


def patches(x: jax.Array, k: int, stride: int, pad: int) -> jax.Array:
  """im2col: `[B, H, W, C]` → `[B, Ho, Wo, k·k·C]`, features in (kh, kw, C) order (HWIO's)."""
  b, h, w, c = x.shape
  ho, wo = output_hw(h, w, k, stride, pad)
  if k == 1 and stride == 1 and pad == 0:
    return x
  xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x
  cols = [xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride, :]
          for i in range(k) for j in range(k)]
  return jnp.concatenate(cols, axis=-1) if len(cols) > 1 else cols[0]


def _library(x, kernel, stride, pad):
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), [(pad, pad), (pad, pad)],
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _library_mmgrad(x, kernel, stride, pad):
  """The library convolution whose kernel gradient is `patches(x)ᵀ · dy` (input gradient: XLA's)."""
  return _library(x, kernel, stride, pad)


def _library_mmgrad_fwd(x, kernel, stride, pad):
  return _library(x, kernel, stride, pad), (x, kernel)


def _library_mmgrad_bwd(stride, pad, res, dy):
  x, kernel = res
  dx = jax.vjp(lambda t: _library(t, kernel, stride, pad), x)[1](dy)[0]
  k, cout = kernel.shape[0], kernel.shape[-1]
  p = patches(x, k, stride, pad)
  f = p.shape[-1]
  dk = jnp.dot(p.reshape(-1, f).T, dy.reshape(-1, cout), preferred_element_type=jnp.float32)
  return dx, dk.reshape(kernel.shape).astype(kernel.dtype)


_library_mmgrad.defvjp(_library_mmgrad_fwd, _library_mmgrad_bwd)


def conv2d(x: jax.Array, kernel: jax.Array, stride: int = 1, pad: int = 0, impl: str = "auto") -> jax.Array:
  """`y[b, i, j, o] = Σ x_pad[b, s·i + u, s·j + v, c] · kernel[u, v, c, o]` (square kernel, symmetric pad)."""
  impl = choose_impl(x.shape, kernel.shape, stride, pad, impl)
  if impl == "library":
    return _library(x, kernel, stride, pad)
  if impl == "library_mmgrad":
    return _library_mmgrad(x, kernel, stride, pad)
  k, cout = kernel.shape[0], kernel.shape[-1]
  p = patches(x, k, stride, pad)
  b, ho, wo, f = p.shape
  y = jnp.dot(p.reshape(b * ho * wo, f), kernel.reshape(f, cout))
  return y.reshape(b, ho, wo, cout)


def onehot_conv2d(ids: jax.Array, kernel: jax.Array, pad: int, extra: jax.Array | None = None) -> jax.Array:
  """`conv2d(concat([one_hot(ids, K), extra], -1), kernel, 1, pad)` without building the one-hot.

  `ids` `[B, H, W]` int class indices; `K = Cin − (extra channels)`; ids outside `[0, K)` stand for an
  all-zero pixel (as `jax.nn.one_hot` gives). Each output pixel is the sum of the k·k kernel rows that
  its neighbours' classes select (a gather; its gradient a scatter-add into the kernel): the same
  non-zero terms as the dense convolution, whose other terms are exact zeros, at 1/K of the work.
  `extra` (e.g. the instance-edge channel) goes through an ordinary convolution and is added. Float32.
  """
  k, cin, cout = kernel.shape[0], kernel.shape[2], kernel.shape[3]
  n_extra = 0 if extra is None else extra.shape[-1]
  n_cls = cin - n_extra
  b, h, w = ids.shape
  ho, wo = output_hw(h, w, k, 1, pad)
  table = kernel[:, :, :n_cls, :].astype(jnp.float32).reshape(k * k, n_cls, cout)
  table = jnp.concatenate([table, jnp.zeros((k * k, 1, cout), jnp.float32)], axis=1)  # row n_cls: zero
  ids = jnp.where((ids >= 0) & (ids < n_cls), ids, n_cls).astype(jnp.int32)
  if pad:
    ids = jnp.pad(ids, ((0, 0), (pad, pad), (pad, pad)), constant_values=n_cls)
  out = None
  for u in range(k):
    for v in range(k):
      term = jnp.take(table[u * k + v], ids[:, u:u + ho, v:v + wo], axis=0, mode="clip")
      out = term if out is None else out + term
  if extra is not None:
    out = out + conv2d(extra.astype(jnp.float32), kernel[:, :, n_cls:, :].astype(jnp.float32), 1, pad)
  return out
