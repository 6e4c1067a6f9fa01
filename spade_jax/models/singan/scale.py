"""Training one scale: the official epoch (Dsteps D steps, then Gsteps G steps, the snapshot forward)
as a pure function, and many epochs per dispatch as one `lax.scan`.

Per epoch (official `training.train_single_scale`):
  * scale 0: `z_opt` and `noise_` are fresh one-channel maps (repeated to 3 channels, zero-padded);
    the G input is `noise_` and `prev` is zero;
  * scale n > 0: `noise_` has `nc_z` channels; every D step draws a fresh `prev = draw_concat('rand')`
    and feeds `noise_amp * noise_ + prev`; `z_opt` stays zero;
  * the reconstruction input is `noise_amp * z_opt + z_prev`, with `z_prev = draw_concat('rec')` and
    `noise_amp = noise_amp_init * RMSE(real, z_prev)` fixed per scale (1 and zeros at scale 0);
  * at epoch 0, every 500th epoch and the last one, a train-mode G forward of the reconstruction input
    (the official snapshot) updates G's running statistics;
  * the learning rates are multiplied by `gamma` from epoch `milestone` on (MultiStepLR).
The random draws of an epoch are one pytree (`sample_draws`), so a replay can inject recorded ones.
Many epochs run as one `lax.scan` per dispatch on accelerators, one jitted epoch per dispatch on CPU
(`ScaleTrainer.run_keys`).
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp

from spade_jax.models.singan import adam
from spade_jax.models.singan import coarse as C
from spade_jax.models.singan.config import Hyper, Layout
from spade_jax.models.singan.init import official_init
from spade_jax.models.singan.networks import Critic, Generator, pad
from spade_jax.models.singan.steps import d_step, g_step, generate


class ScaleTrainer:
  """Jitted training of scale n of `layout` with options `hp`."""

  def __init__(self, layout: Layout, hp: Hyper, n: int):
    self.layout, self.hp, self.n = layout, hp, n
    nfc, min_nfc = layout.widths[n]
    self.netG = Generator(nfc, min_nfc, nc_im=hp.nc_im, num_layer=hp.num_layer)
    self.netD = Critic(nfc, min_nfc, num_layer=hp.num_layer)
    self._scan_keys = jax.jit(self._run_keys)
    self._scan_draws = jax.jit(self._run_draws)
    self._epoch_key = jax.jit(lambda c, ctx, k: self.epoch(c, ctx, self.sample_draws(k)))
    self._epoch_draws = jax.jit(self.epoch)
    self._prepare = jax.jit(self._prepare_fn)

  # ---- draws ----
  def sample_draws(self, key: jax.Array) -> dict:
    """One epoch's random draws (the official torch.randn / torch.rand calls) from `key`."""
    lay, hp, n = self.layout, self.hp, self.n
    k = jax.random.split(key, 4)
    d = {"gp": jax.random.uniform(k[0], (hp.Dsteps,), jnp.float32)}
    if n == 0:
      d["z_opt"] = jax.random.normal(k[1], C.noise_shape(lay, 0, True))
      d["noise"] = jax.random.normal(k[2], C.noise_shape(lay, 0, True))
    else:
      d["noise"] = jax.random.normal(k[2], C.noise_shape(lay, n, False))
      ks = jax.random.split(k[3], n)
      d["coarse"] = [jax.random.normal(ks[i], (hp.Dsteps,) + C.noise_shape(lay, i, i == 0)) for i in range(n)]
    return d

  # ---- setup ----
  def setup(self, key, real, Gs, Zs, amps, init: Optional[tuple] = None):
    """(carry, ctx) at the start of the scale. `init` = (G, D) to continue from, else a fresh init
    (drawn outside jit: compiling the many small random draws would cost more than running them)."""
    if init is None:
      kg, kd = jax.random.split(key)
      init = (official_init(kg, self.netG, self.hp.nc_im), official_init(kd, self.netD, self.hp.nc_im))
    return self._prepare(jnp.asarray(real), list(Gs), [jnp.asarray(z) for z in Zs],
                         [jnp.asarray(a, jnp.float32) for a in amps], init)

  def _prepare_fn(self, real, Gs, Zs, amps, init):
    hp, n = self.hp, self.n
    G, D = init
    h, w = real.shape[1:3]
    if n == 0:
      z_prev = jnp.zeros((1, h + 10, w + 10, 3), jnp.float32)
      noise_amp = jnp.ones((), jnp.float32)
    else:
      rec = C.draw_concat(self.layout, Gs, Zs, amps)
      noise_amp = hp.noise_amp_init * jnp.sqrt(jnp.mean(jnp.square(real - rec)))
      z_prev = pad(rec)
    carry = {"G": G, "D": D, "opt_G": adam.init(G["params"]), "opt_D": adam.init(D["params"]),
             "epoch": jnp.zeros((), jnp.int32), "z_opt": jnp.zeros((1, h + 10, w + 10, 3), jnp.float32)}
    ctx = {"real": real, "z_prev": z_prev, "noise_amp": noise_amp, "Gs": list(Gs), "Zs": list(Zs),
           "amps": list(amps)}
    return carry, ctx

  # ---- one epoch ----
  def epoch(self, carry: dict, ctx: dict, draws: dict):
    hp, n, lay = self.hp, self.n, self.layout
    real, z_prev, amp = ctx["real"], ctx["z_prev"], ctx["noise_amp"]
    decay = jnp.where(carry["epoch"] >= hp.milestone, jnp.float32(hp.gamma), jnp.float32(1.0))
    lr_g, lr_d = hp.lr_g * decay, hp.lr_d * decay
    if n == 0:
      z_opt = pad(C.expand(draws["z_opt"]))
      noise_ = pad(C.expand(draws["noise"]))
    else:
      z_opt = carry["z_opt"]
      noise_ = pad(draws["noise"])
    G, D, opt_G, opt_D = carry["G"], carry["D"], carry["opt_G"], carry["opt_D"]

    def d_body(c, x):
      G, D, opt_D = c[:3]
      if n == 0:
        prev = jnp.zeros_like(noise_)
        noise_in = noise_
      else:
        prev = pad(C.draw_concat(lay, ctx["Gs"], ctx["Zs"], ctx["amps"], x["coarse"]))
        noise_in = amp * noise_ + prev
      out = d_step(self.netG, self.netD, hp, G, D, opt_D, real, noise_in, prev, x["gp"], lr_d)
      return (out.G, out.D, out.opt_D, noise_in, prev, out.record), out.losses

    # The D steps and the G steps, unrolled with `hp.unroll`: on XLA:CPU an epoch with while loops runs
    # ~4x slower (48x64 scale, nfc 64: 2.4 s unrolled, 10.7 s rolled) but compiles ~3x faster.
    record0 = jax.eval_shape(lambda G: generate(self.netG, G, noise_, noise_, True)[2], G)
    record0 = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), record0)
    xs = {"gp": draws["gp"]}
    if n > 0:
      xs["coarse"] = list(draws["coarse"])
    (G, D, opt_D, noise_in, prev, record), losses = jax.lax.scan(
        d_body, (G, D, opt_D, noise_, noise_, record0), xs, unroll=hp.unroll)
    rec_in = amp * z_opt + z_prev

    def g_body(c, _):
      G, opt_G, D = c
      o = g_step(self.netG, self.netD, hp, G, D, opt_G, real, noise_in, prev, record, rec_in, z_prev, lr_g)
      return (o.G, o.opt_G, o.D), o.losses

    (G, opt_G, D), g_losses = jax.lax.scan(g_body, (G, opt_G, D), None, length=hp.Gsteps, unroll=hp.unroll)
    losses = dict(losses, **g_losses)
    e = carry["epoch"]
    snap = (e % 500 == 0) | (e == hp.niter - 1)

    def snapshot(stats):
      return self.netG.apply({"params": G["params"], "batch_stats": stats}, rec_in, z_prev, train=True,
                             mutable=["batch_stats"])[1]["batch_stats"]

    G = {"params": G["params"], "batch_stats": jax.lax.cond(snap, snapshot, lambda s: s, G["batch_stats"])}
    carry = {"G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D, "epoch": e + 1, "z_opt": z_opt}
    return carry, losses

  # ---- many epochs ----
  def run_keys(self, carry, ctx, keys):
    """Epochs with the draws of `keys` ([E] keys): one `lax.scan` dispatch on accelerators; on CPU one
    jitted epoch per dispatch (XLA:CPU runs an epoch ~4x slower inside a while loop, and an epoch
    takes far longer than a dispatch)."""
    if jax.default_backend() != "cpu":
      return self._scan_keys(carry, ctx, keys)
    return self._loop(self._epoch_key, carry, ctx, [keys[i] for i in range(keys.shape[0])])

  def run_draws(self, carry, ctx, draws):
    """Epochs with injected draws (a pytree with a leading [E] axis)."""
    if jax.default_backend() != "cpu":
      return self._scan_draws(carry, ctx, draws)
    e = jax.tree.leaves(draws)[0].shape[0]
    return self._loop(self._epoch_draws, carry, ctx, [jax.tree.map(lambda a: a[i], draws) for i in range(e)])

  @staticmethod
  def _loop(fn, carry, ctx, xs):
    out = []
    for x in xs:
      carry, losses = fn(carry, ctx, x)
      out.append(losses)
    return carry, jax.tree.map(lambda *a: jnp.stack(a), *out)

  def _run_keys(self, carry, ctx, keys):
    return jax.lax.scan(lambda c, k: self.epoch(c, ctx, self.sample_draws(k)), carry, keys)

  def _run_draws(self, carry, ctx, draws):
    return jax.lax.scan(lambda c, d: self.epoch(c, ctx, d), carry, draws)


@functools.lru_cache(maxsize=64)
def trainer(layout: Layout, hp: Hyper, n: int) -> ScaleTrainer:
  return ScaleTrainer(layout, hp, n)
