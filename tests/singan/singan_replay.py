"""Helpers shared by the SinGAN parity tests: the fixture's layout and options, its trained pyramid as
our variables, and its recorded draws arranged as our per-epoch draw pytrees."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

import singan_fixtures as fx
from spade_jax.models.singan import official, pyramid
from spade_jax.models.singan.config import Hyper, Layout
from spade_jax.models.singan.networks import Critic, Generator


def nhwc(a):
  a = np.asarray(a, np.float32)
  return np.transpose(a, (0, 2, 3, 1)) if a.ndim == 4 else a


@functools.lru_cache(maxsize=None)
def layout(name: str) -> Layout:
  f = fx.load(name)
  o = f.options
  shapes = tuple(tuple(s[2:]) for s in f.meta["pyramid"]["reals_shapes"])
  widths = tuple(pyramid.widths(n, o["nfc_init"], o["min_nfc_init"]) for n in range(len(shapes)))
  return Layout(shapes, widths, f.meta["pyramid"]["scale_factor"], nc_z=o["nc_z"], num_layer=o["num_layer"])


def hyper(name: str, **kw) -> Hyper:
  o = fx.load(name).options
  return Hyper(niter=o["niter"], Dsteps=o["Dsteps"], Gsteps=o["Gsteps"], lambda_grad=o["lambda_grad"],
               alpha=float(o["alpha"]), lr_g=o["lr_g"], lr_d=o["lr_d"], beta1=o["beta1"], gamma=o["gamma"],
               noise_amp_init=o["noise_amp_init"], nc_z=o["nc_z"], nc_im=o["nc_im"], num_layer=o["num_layer"],
               **{"unroll": False, "official_grad": True, **kw})  # the fixtures record torch 1.4's G steps


def nets(name: str, n: int):
  nfc, min_nfc = layout(name).widths[n]
  return Generator(nfc, min_nfc), Critic(nfc, min_nfc)


def state(name: str, prefix: str, net) -> dict:
  v = official.state_dict_to_variables(fx.load(name).state(prefix), net, what=prefix)
  return {"params": jnp_tree(v["params"]), "batch_stats": jnp_tree(v["batch_stats"])}


def jnp_tree(t):
  return {k: jnp_tree(v) for k, v in t.items()} if isinstance(t, dict) else jnp.asarray(t)


def initial(name: str, n: int):
  """(G, D) at the start of scale n: the stored fresh init, or the previous scale's final state."""
  g, d = nets(name, n)
  f = fx.load(name)
  if f"train/s{n}/G_init/head.conv.weight" in f.keys:
    return state(name, f"train/s{n}/G_init", g), state(name, f"train/s{n}/D_init", d)
  return state(name, f"train/s{n - 1}/G_after", g), state(name, f"train/s{n - 1}/D_after", d)


def pyramid_vars(name: str, upto: int):
  """(Gs, Zs, amps, reals) of the stored trained pyramid, scales 0..upto-1."""
  f = fx.load(name)
  Gs = [state(name, f"train/s{i}/G_after", nets(name, i)[0]) for i in range(upto)]
  Zs = [jnp.asarray(nhwc(f.raw(f"pyramid/Zs/{i}"))) for i in range(upto)]
  amps = [jnp.float32(a) for a in np.asarray(f.raw("pyramid/NoiseAmp"), np.float32)[:upto]]
  reals = [jnp.asarray(f.nhwc(f"pyramid/reals/{i}")) for i in range(upto)]
  return Gs, Zs, amps, reals


def training_draws(name: str, n: int, hp: Hyper) -> list[dict]:
  """The recorded draws of scale n as one draw pytree per epoch (our layout: NHWC)."""
  f = fx.load(name)
  entries = f.meta_json["draws"][f"train/s{n}"]
  epochs, cur, coarse = [], None, []
  for e in entries:
    tag = e["tag"].split("->")[-1].strip()
    a = nhwc(f.raw(e["key"]))
    if tag == "fixed_noise":
      continue
    if (n == 0 and tag == "z_opt") or (n > 0 and tag == "noise_"):
      cur = {"gp": []}
      epochs.append(cur)
      if n > 0:
        cur["coarse"] = [[] for _ in range(n)]
      coarse = []
    if tag in ("z_opt", "noise_"):
      cur["noise" if tag == "noise_" else "z_opt"] = a
    elif tag == "z":
      coarse.append(a)
    elif tag == "gradient_penalty":
      cur["gp"].append(float(a.reshape(-1)[0]))
      assert len(coarse) == n, (n, len(coarse))
      for i, c in enumerate(coarse):
        cur["coarse"][i].append(c)
      coarse = []
    else:
      raise AssertionError(f"unknown draw tag {e['tag']}")
  out = []
  for ep in epochs:
    assert len(ep["gp"]) == hp.Dsteps
    d = {"gp": jnp.asarray(ep["gp"], jnp.float32), "noise": jnp.asarray(ep["noise"])}
    if n == 0:
      d["z_opt"] = jnp.asarray(ep["z_opt"])
    else:
      d["coarse"] = [jnp.asarray(np.stack(c)) for c in ep["coarse"]]
    out.append(d)
  assert len(out) == hp.niter
  return out
