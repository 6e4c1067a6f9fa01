"""SinGAN nets: official init statistics, strict state_dict conversion, forward parity on the fixture's
initial states, and the stale-graph replay (value of the recorded forward, gradient of the current
weights)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import singan_fixtures as fx
from spade_jax.models.singan import init as sinit
from spade_jax.models.singan import networks as nets
from spade_jax.models.singan import official


def test_official_init_statistics():
  g = nets.Generator(32, 32)
  v = sinit.official_init(jax.random.key(3), g)
  p = v["params"]["trunk"]["block1"]
  assert p["conv"]["kernel"].shape == (3, 3, 32, 32)
  assert abs(float(p["conv"]["kernel"].std()) - 0.02) < 0.002
  bound = 1 / np.sqrt(32 * 9)
  assert float(jnp.abs(p["conv"]["bias"]).max()) <= bound and float(jnp.abs(p["conv"]["bias"]).max()) > bound / 3
  assert abs(float(p["scale"].mean()) - 1) < 0.02 and float(jnp.abs(p["bias"]).max()) == 0
  s = v["batch_stats"]["trunk"]["head"]
  assert float(s["norm"]["var"].min()) == 1 and int(s["num_batches_tracked"]) == 0
  sd = official.variables_to_state_dict(v, g)
  assert sd["tail.0.weight"].shape == (3, 32, 3, 3) and sd["head.norm.num_batches_tracked"].dtype == np.int64
  assert "tail.weight" in official.variables_to_state_dict(sinit.official_init(jax.random.key(0), nets.Critic(32, 32)),
                                                           nets.Critic(32, 32))


def test_converter_is_strict():
  g = nets.Generator(16, 8)
  sd = official.variables_to_state_dict(sinit.official_init(jax.random.key(0), g), g)
  back = official.state_dict_to_variables(sd, g)
  np.testing.assert_array_equal(back["params"]["tail"]["kernel"], np.transpose(sd["tail.0.weight"], (2, 3, 1, 0)))
  bad = dict(sd)
  del bad["body.block2.norm.running_var"]
  bad["extra.weight"] = np.zeros(3)
  bad["head.conv.weight"] = np.zeros((8, 3, 3, 3), np.float32)
  with pytest.raises(ValueError) as e:
    official.state_dict_to_variables(bad, g, what="netG.pth")
  msg = str(e.value)
  assert msg.startswith("netG.pth: does not match the Generator(nfc=16, min_nfc=8)")
  assert "missing body.block2.norm.running_var" in msg and "unexpected extra.weight" in msg
  assert "mis-shaped head.conv.weight (8, 3, 3, 3) (expected (16, 3, 3, 3))" in msg
  with pytest.raises(FileNotFoundError, match="nope.pth: no such file"):
    official.load_state_dict_file("nope.pth", g)


def test_replay_gradient():
  """Replaying a recorded forward gives its values, and gradients of the current weights at it."""
  g = nets.Generator(8, 8)
  v0 = sinit.official_init(jax.random.key(1), g)
  x = jax.random.normal(jax.random.key(2), (1, 20, 22, 3))
  y = jax.random.normal(jax.random.key(3), (1, 20, 22, 3))
  out0, mut = g.apply(v0, x, y, train=True, mutable=["batch_stats", "intermediates"])
  rec = nets.recorded(mut["intermediates"])
  assert len(rec) == 5
  v1 = jax.tree.map(lambda a: a + 0.01 if a.dtype == jnp.float32 else a, v0)
  out_r = g.apply(v1, x, y, train=True, replay=rec, mutable=["batch_stats"])[0]
  np.testing.assert_allclose(out_r, out0, atol=1e-6)
  # At the recording weights, replay and a fresh forward have the same gradient.
  def loss(p, replay):
    return jnp.sum(g.apply({"params": p, "batch_stats": v0["batch_stats"]}, x, y, train=True,
                           replay=replay, mutable=["batch_stats"])[0] ** 2)
  ga = jax.grad(loss)(v0["params"], rec)
  gb = jax.grad(loss)(v0["params"], None)
  for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
  # At other weights they differ (the stale graph is not the fresh one).
  ga1, gb1 = jax.grad(loss)(v1["params"], rec), jax.grad(loss)(v1["params"], None)
  assert max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(ga1), jax.tree.leaves(gb1))) > 1e-3


@fx.params()
def test_forward_parity(fixture_name):
  f = fx.load(fixture_name)
  for n in range(f.meta["pyramid"]["stop_scale"] + 1):
    if f"train/s{n}/G_init/head.conv.weight" not in f.keys:
      continue
    t = f.meta["training"][f"train/s{n}"]
    g, d = nets.Generator(t["nfc"], t["min_nfc"]), nets.Critic(t["nfc"], t["min_nfc"])
    gv = official.state_dict_to_variables(f.state(f"train/s{n}/G_init"), g)
    dv = official.state_dict_to_variables(f.state(f"train/s{n}/D_init"), d)
    e = f"train/s{n}/e0/d0"
    out = g.apply(gv, f.nhwc(f"{e}/fake/z_in"), f.nhwc(f"{e}/fake/prev"), train=True, mutable=["batch_stats"])[0]
    np.testing.assert_allclose(out, f.nhwc(f"{e}/fake/out"), atol=1e-5, rtol=0)
    m = d.apply(dv, f.nhwc(f"pyramid/reals/{n}"), train=True, mutable=["batch_stats"])[0]
    np.testing.assert_allclose(m, f.nhwc(f"{e}/D_real_map"), atol=1e-5, rtol=0)
