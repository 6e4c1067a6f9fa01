"""SinGAN commands on a work directory.

  python -m spade_jax.models.singan.cli train --photo PHOTO --workdir DIR [--max_size 250 --niter 2000 ...]
  python -m spade_jax.models.singan.cli sample --workdir DIR [--num 50 --seed 0 --scale_h 1 --scale_v 1 --start-scale 0]
  python -m spade_jax.models.singan.cli paint2image --workdir DIR --paint PNG --start-scale K [--quantize]
  python -m spade_jax.models.singan.cli harmonize --workdir DIR --inject PNG --mask PNG --start-scale K
  python -m spade_jax.models.singan.cli edit --workdir DIR --inject PNG --mask PNG --start-scale K
  python -m spade_jax.models.singan.cli sr --workdir DIR [--factor 4]
  python -m spade_jax.models.singan.cli animate --workdir DIR [--alpha 0.1 --beta 0.9 --start-scale 0]

Outputs go to `--out` (default `DIR/outputs/<command>/`). A bad input (unreadable / greyscale / alpha /
too small photo, a paint or mask of the wrong size, a workdir without a trained pyramid, an injection
scale outside the valid range) prints one line and exits with status 2 before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from spade_jax.models.singan import commands, image, store
from spade_jax.models.singan.config import Hyper


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m spade_jax.models.singan.cli", description=__doc__.split("\n")[0])
  sub = p.add_subparsers(dest="command", required=True)

  def common(name, help_):
    s = sub.add_parser(name, help=help_)
    s.add_argument("--workdir", required=True)
    s.add_argument("--out", default=None, help="output folder (default WORKDIR/outputs/<command>)")
    s.add_argument("--seed", type=int, default=0)
    return s

  t = common("train", "train (or resume) the pyramid of one photo")
  t.add_argument("--photo", required=True)
  for name, typ, default in (("max_size", int, 250), ("min_size", int, 25), ("scale_factor", float, 0.75),
                             ("nfc", int, 32), ("min_nfc", int, 32), ("niter", int, 2000), ("Dsteps", int, 3),
                             ("Gsteps", int, 3), ("alpha", float, 10.0), ("lambda_grad", float, 0.1),
                             ("lr_g", float, 0.0005), ("lr_d", float, 0.0005), ("noise_amp", float, 0.1),
                             ("milestone", int, 1600), ("epochs_per_call", int, 100)):
    t.add_argument(f"--{name}", type=typ, default=default)
  t.add_argument("--unroll", type=int, choices=(0, 1), default=1,
                 help="1: unrolled D/G steps (faster epochs on CPU, longer compilation)")
  t.add_argument("--official_grad", type=int, choices=(0, 1), default=0,
                 help="1: G steps 2.. back-propagate through the D step's forward (torch 1.4, official); "
                      "0 (default): regenerate the fake at every G step")
  s = common("sample", "random samples")
  s.add_argument("--num", type=int, default=50)
  s.add_argument("--scale_h", type=float, default=1.0)
  s.add_argument("--scale_v", type=float, default=1.0)
  s.add_argument("--start-scale", dest="start_scale", type=int, default=0)
  s = common("paint2image", "turn a painting into an image")
  s.add_argument("--paint", required=True)
  s.add_argument("--start-scale", dest="start_scale", type=int, required=True)
  s.add_argument("--quantize", action="store_true", help="map the paint's colours to the photo's 5 colour clusters")
  for name in ("harmonize", "edit"):
    s = common(name, f"{name} a pasted object / an edited photo")
    s.add_argument("--inject", required=True, help="the composite (photo with the pasted object / the edit)")
    s.add_argument("--mask", required=True, help="the region that was pasted / edited (white)")
    s.add_argument("--start-scale", dest="start_scale", type=int, required=True)
    s.add_argument("--radius", type=int, default=7 if name == "harmonize" else 20,
                   help="mask dilation radius (official: 7 harmonization, 20 editing)")
  s = common("sr", "super-resolution of the photo")
  s.add_argument("--factor", type=float, default=4.0)
  s = common("animate", "a GIF of the photo in motion")
  s.add_argument("--alpha", type=float, default=0.1)
  s.add_argument("--beta", type=float, default=0.9)
  s.add_argument("--start-scale", dest="start_scale", type=int, default=0)
  s.add_argument("--frames", type=int, default=100)
  s.add_argument("--fps", type=int, default=10)
  return p


def _out_dir(args) -> str:
  return args.out or os.path.join(args.workdir, "outputs", args.command)


def _save(out: str, name: str, x) -> str:
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, name)
  image.save_image(path, x)
  return path


def _pyramid(workdir: str) -> store.Pyramid:
  pyr = store.load_pyramid(workdir)
  pyr.require_complete(workdir)
  return pyr


def run(argv=None) -> list:
  """Runs one command; returns the written files. Raises ValueError / FileNotFoundError on bad input."""
  args = _parser().parse_args(argv)
  if args.command == "train":
    from spade_jax.models.singan import trainer
    photo = image.read_image(args.photo, "--photo")
    hp = Hyper(niter=args.niter, Dsteps=args.Dsteps, Gsteps=args.Gsteps, alpha=args.alpha,
               lambda_grad=args.lambda_grad, lr_g=args.lr_g, lr_d=args.lr_d, noise_amp_init=args.noise_amp,
               milestone=args.milestone, official_grad=bool(args.official_grad), unroll=bool(args.unroll))
    trainer.train(photo, args.workdir, hp, min_size=args.min_size, max_size=args.max_size,
                  scale_factor=args.scale_factor, nfc=args.nfc, min_nfc=args.min_nfc, seed=args.seed,
                  epochs_per_call=args.epochs_per_call, photo=args.photo)
    return [os.path.join(args.workdir, store.SCALES)]
  pyr = _pyramid(args.workdir)
  out = _out_dir(args)
  if args.command == "sample":
    xs = commands.random_samples(pyr, args.num, args.seed, args.scale_v, args.scale_h, args.start_scale)
    return [_save(out, f"{i}.png", x[None]) for i, x in enumerate(xs)]
  if args.command == "paint2image":
    paint = image.read_image(args.paint, "--paint")
    y = commands.paint2image(pyr, paint, args.start_scale, args.seed, args.quantize)
    return [_save(out, f"{os.path.splitext(os.path.basename(args.paint))[0]}_start_scale={args.start_scale}.png", y)]
  if args.command in ("harmonize", "edit"):
    ref = image.read_image(args.inject, "--inject")
    mask = image.read_image(args.mask, "--mask")
    fn = commands.harmonize if args.command == "harmonize" else commands.edit
    y, blended = fn(pyr, ref, mask, args.start_scale, args.seed, radius=args.radius)
    stem = os.path.splitext(os.path.basename(args.inject))[0]
    return [_save(out, f"{stem}_start_scale={args.start_scale}.png", y),
            _save(out, f"{stem}_start_scale={args.start_scale}_masked.png", blended)]
  if args.command == "sr":
    y = commands.super_resolve(pyr, args.factor, args.seed)
    return [_save(out, f"HR_x{args.factor:g}.png", y)]
  if args.command == "animate":
    from PIL import Image
    frames = commands.animate(pyr, args.alpha, args.beta, args.start_scale, args.frames, args.seed)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"start_scale={args.start_scale}_alpha={args.alpha:g}_beta={args.beta:g}.gif")
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=int(1000 / max(args.fps, 1)), loop=0)
    return [path]
  raise AssertionError(args.command)


def main(argv=None) -> int:
  try:
    files = run(argv)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  for f in files:
    print(f)
  return 0


if __name__ == "__main__":
  sys.exit(main())
