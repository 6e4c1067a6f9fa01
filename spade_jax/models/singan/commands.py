"""What a trained pyramid can make: random samples, paint2image, harmonization, editing,
super-resolution and animation, on host arrays (NHWC in [-1, 1]) with explicit seeds.

Each function validates its inputs first (one-line ValueError naming the option or file), then runs
jitted code; samples of one call form one batch.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from spade_jax.models.singan import generate as gen
from spade_jax.models.singan import manipulate as M
from spade_jax.models.singan.store import Pyramid


@functools.lru_cache(maxsize=64)
def _generator_fn(layout, n, scale_v, scale_h, gen_start_scale, sr=False, shapes=None, widths=None, sf=None):
  def run(Gs, Zs, amps, noises, in_s):
    return gen.generate(layout, Gs, Zs, amps, noises, in_s=in_s, n=n, scale_v=scale_v, scale_h=scale_h,
                        gen_start_scale=gen_start_scale, sr=sr, shapes=shapes, widths=widths, scale_factor=sf)
  return jax.jit(run)


def _check_scale(value: int, lo: int, hi: int, what: str) -> None:
  if not lo <= value <= hi:
    raise ValueError(f"{what}={value} is outside the valid range {lo}..{hi} of this {hi + 1}-scale pyramid")


def random_samples(pyr: Pyramid, num: int = 50, seed: int = 0, scale_v: float = 1.0, scale_h: float = 1.0,
                   gen_start_scale: int = 0) -> np.ndarray:
  """`num` samples (official `random_samples.py`): output `round(scale_v H) x round(scale_h W)`; scales
  below `gen_start_scale` reuse the reconstruction noise."""
  lay = pyr.layout
  if num < 1:
    raise ValueError(f"--num={num}: at least one sample")
  _check_scale(gen_start_scale, 0, lay.num_scales - 1, "--start-scale")
  if scale_v <= 0 or scale_h <= 0:
    raise ValueError(f"--scale_v={scale_v} / --scale_h={scale_h}: output scales must be positive")
  if gen_start_scale > 0 and (scale_v != 1 or scale_h != 1):
    raise ValueError(f"--start-scale={gen_start_scale}: other output sizes (--scale_v/--scale_h) need "
                     "--start-scale 0 (the stored noise has the training size)")
  shapes = gen.noise_shapes(lay, 0, num, scale_v, scale_h)
  if min(min(s[1], s[2]) for s in shapes) < 11:
    raise ValueError(f"--scale_v={scale_v} / --scale_h={scale_h}: the coarsest scale would be "
                     f"{shapes[0][1]}x{shapes[0][2]}, smaller than the 11-pixel receptive field")
  noises = gen.sample_noise(jax.random.key(seed), shapes)
  fn = _generator_fn(lay, 0, scale_v, scale_h, gen_start_scale)
  return np.asarray(fn(pyr.Gs, pyr.Zs, pyr.amps, noises, None))


def _run_from(pyr: Pyramid, in_s: np.ndarray, start: int, seed: int) -> np.ndarray:
  lay = pyr.layout
  noises = gen.sample_noise(jax.random.key(seed), gen.noise_shapes(lay, start, 1))
  fn = _generator_fn(lay, start, 1, 1, 0)
  return np.asarray(fn(pyr.Gs[start:], pyr.Zs[start:], pyr.amps[start:], noises, jnp.asarray(in_s)))


def _inject_and_run(pyr: Pyramid, ref: np.ndarray, start: int, seed: int, what: str) -> np.ndarray:
  gen.check_start_scale(start, pyr.layout.num_scales, "--start-scale")
  M.check_reference(ref, pyr.real1, what)
  return _run_from(pyr, M.inject(pyr.layout, M.match_reference(ref, pyr.real1), start), start, seed)


def paint2image(pyr: Pyramid, paint: np.ndarray, start: int, seed: int = 0, quantize: bool = False,
                what: str = "--paint") -> np.ndarray:
  """The painting injected at scale `start` (official `paint2image.py`). `quantize`: its colours are
  first mapped to the photo's 5 colour clusters at that scale and it is shrunk there directly (the
  official script then also retrains scale `start` on quantized inputs; that retraining is not run)."""
  if not quantize:
    return _inject_and_run(pyr, paint, start, seed, what)
  from spade_jax.models.singan.quantize import quantized_injection
  gen.check_start_scale(start, pyr.layout.num_scales, "--start-scale")
  M.check_reference(paint, pyr.real1, what)
  q = quantized_injection(pyr.layout, pyr.real1, M.match_reference(paint, pyr.real1), start, seed=0)
  return _run_from(pyr, q["in_s"], start, seed)


def harmonize(pyr: Pyramid, ref: np.ndarray, mask: np.ndarray, start: int, seed: int = 0, radius: int = 7,
              what: str = "--inject") -> tuple:
  """(out, blended): the composite `ref` re-rendered from scale `start`, and `(1 - m) real + m out` with
  the mask dilated by a disk of `radius` (7 harmonization, 20 editing) and blurred (sigma 5)."""
  gen.check_start_scale(start, pyr.layout.num_scales, "--start-scale")
  M.check_reference(ref, pyr.real1, what)
  if mask.shape != ref.shape:
    raise ValueError(f"--mask is {mask.shape[1]}x{mask.shape[2]}: it must have the size of {what} "
                     f"({ref.shape[1]}x{ref.shape[2]})")
  mask = M.dilate_mask(M.match_reference(mask, pyr.real1), radius)
  out = _inject_and_run(pyr, ref, start, seed, what)
  return out, M.blend(pyr.real1, out, mask)


def edit(pyr: Pyramid, ref: np.ndarray, mask: np.ndarray, start: int, seed: int = 0, radius: int = 20) -> tuple:
  """Editing (official `editing.py`): harmonization with a dilation radius of 20."""
  return harmonize(pyr, ref, mask, start, seed, radius=radius)


def super_resolve(pyr: Pyramid, factor: float = 4.0, seed: int = 0) -> np.ndarray:
  """The finest real upsampled by `factor` (official `SR.py`): steps of about 2^(1/3), each refined by
  the finest generator with its noise amplitude and zero reconstruction noise."""
  lay = pyr.layout
  in_scale, iters = M.sr_plan(factor)
  rs = M.sr_reals(np.asarray(pyr.reals[-1]), in_scale, iters)
  shapes = tuple(tuple(r.shape[1:3]) for r in rs)
  noises = gen.sample_noise(jax.random.key(seed), gen.noise_shapes(lay, 0, 1, shapes=shapes))
  zs = [jnp.zeros((1, h + 10, w + 10, 3)) for h, w in shapes]
  fn = _generator_fn(lay, 0, 1, 1, 0, True, shapes, (tuple(lay.widths[-1]),) * iters, 1 / in_scale)
  out = np.asarray(fn([pyr.Gs[-1]] * iters, zs, [pyr.amps[-1]] * iters, noises, jnp.asarray(rs[0])))
  h, w = pyr.reals[-1].shape[1:3]
  return out[:, :int(factor * h), :int(factor * w)]


def animate(pyr: Pyramid, alpha: float = 0.1, beta: float = 0.9, start_scale: int = 0, frames: int = 100,
            seed: int = 0) -> np.ndarray:
  """Frames (F, H, W, 3) uint8 of the official `generate_gif`: per scale a second-order random walk of
  the noise around the reconstruction noise (`Zs[k]` below `start_scale`), drawn at the padded size."""
  lay = pyr.layout
  _check_scale(start_scale, 0, lay.num_scales - 1, "--start-scale")
  if not (0 <= alpha <= 1 and 0 <= beta <= 1):
    raise ValueError(f"--alpha={alpha} / --beta={beta}: both must lie in [0, 1]")
  if frames < 1:
    raise ValueError(f"--frames={frames}: at least one frame")
  out = _animate_fn(lay, alpha, beta, start_scale, frames)(pyr.Gs, pyr.Zs, pyr.amps, jax.random.key(seed))
  return M.frames_to_uint8(out)


@functools.lru_cache(maxsize=16)
def _animate_fn(lay, alpha, beta, start_scale, frames):
  from spade_jax.models.singan.coarse import generators
  from spade_jax.models.singan.imresize import imresize
  from spade_jax.models.singan.networks import pad

  def run(Gs, Zs, amps, key):
    prev = None
    for k, (net, G, Z, amp) in enumerate(zip(generators(lay, lay.num_scales), Gs, Zs, amps)):
      key, k1, k2 = jax.random.split(key, 3)
      c = 1 if k == 0 else lay.nc_z
      shape = Z.shape[:3] + (c,)
      first = jax.random.normal(k1, shape)
      walk = jax.random.normal(k2, (frames,) + shape)
      if c == 1:
        first, walk = jnp.broadcast_to(first, Z.shape), jnp.broadcast_to(walk, (frames,) + Z.shape)
      zs = M.gif_noise_walk(Z, walk, first, alpha, beta)[:, 0]
      if k < start_scale:
        zs = jnp.broadcast_to(Z, zs.shape)
      if prev is None:
        i_prev = jnp.zeros(zs.shape, jnp.float32)
      else:
        h, w = lay.shapes[k]
        i_prev = pad(imresize(prev, 1 / lay.scale_factor)[:, :h, :w])
      prev = net.apply(G, amp * zs + i_prev, i_prev, train=False)
    return prev
  return jax.jit(run)
