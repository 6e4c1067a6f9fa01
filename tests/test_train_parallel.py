"""One pure step, two drivers: jit over a 4-device Mesh and pmap over 4 devices give the new state of
a 1-device run of the same global batch (BN statistics are global); bf16 compute with f32 params;
the EMA update and its BN re-estimation; the benchmark's JSON.

Compiles: the tiny config's init (mesh), step (1 device, mesh, pmap, mesh bf16), re-estimation
(mesh, pmap). A persistent compilation cache is shared with the other training tests.
"""

import pathlib

import jax
import numpy as np
import pytest
from model_utils import load_config, load_script

from spade_jax.train import checkpoint as ckpt
from spade_jax import models
from spade_jax.train import parallel
from spade_jax.configs import common as settings
import train_utils as testing
from train_utils import assert_same_new_state
from spade_jax.data.fake import FakeIterator
from spade_jax.models.spade.step import g_trainable

REPO = pathlib.Path(__file__).resolve().parents[1]
LR_MAX = 4e-4  # the D learning rate (TTUR 2·lr)


@pytest.fixture(scope="module", autouse=True)
def _xla_cache():
  with testing.compilation_cache():
    yield


@pytest.fixture(scope="module")
def config():
  return settings.complete(load_config("spade/tiny"))


@pytest.fixture(scope="module")
def initial(config):
  """(host copy of the initial state, the mesh driver, its state, two global batches)."""
  driver = parallel.make_driver(config)
  state = driver.init_state(np.asarray(jax.random.PRNGKey(0)))
  host = jax.tree.map(lambda x: np.array(x, copy=True), state)  # no view keeps `state` from donation
  it = FakeIterator(config)
  return host, driver, state, [next(it) for _ in range(2)]


@pytest.fixture(scope="module")
def one_device(config, initial):
  host, _, _, batches = initial
  d1 = parallel.MeshDriver(models.build(config), devices=jax.devices()[:1])
  s1, m1 = d1.train_step(d1.from_host(host), d1.put_batch(batches[0]))
  return jax.device_get(s1), d1.metrics_to_host(m1)


def test_state_created_sharded_and_replicated(initial):
  _, driver, state, _ = initial
  assert driver.num_devices == 4
  for leaf in jax.tree.leaves(state):
    assert leaf.sharding == driver.replicated
  assert state.ema is not None and "E" in state.ema  # tiny: VAE with an EMA copy


def test_mesh_step_matches_one_device(config, initial, one_device):
  host, driver, state, batches = initial
  s1, m1 = one_device
  batch = driver.put_batch(batches[0])
  assert batch["image"].sharding.spec == jax.sharding.PartitionSpec("data")
  s4, m4 = driver.train_step(state, batch)  # donates `state` (inputs the step reads)
  params = {k: v["params"] for k, v in state.variables.items()}
  assert all(x.is_deleted() for x in jax.tree.leaves(params))
  assert int(s4.step) == 1
  m4 = driver.metrics_to_host(m4)
  assert m4.keys() == m1.keys() and {"GAN", "GAN_Feat", "KLD", "D_Fake", "D_real"} <= m4.keys()
  for k in m1:
    assert m4[k] == pytest.approx(m1[k], rel=1e-5, abs=1e-6), k
  assert_same_new_state(s4, s1, "mesh vs 1 device", LR_MAX)


def test_pmap_step_matches_one_device(config, initial, one_device):
  host, _, _, batches = initial
  s1, m1 = one_device
  pm = parallel.PmapDriver(models.build(config))
  sp, mp = pm.train_step(pm.from_host(host), pm.put_batch(batches[0]))
  mp = pm.metrics_to_host(mp)
  for k in m1:
    assert mp[k] == pytest.approx(m1[k], rel=1e-5, abs=1e-6), k
  assert_same_new_state(pm.to_host(sp), s1, "pmap vs 1 device", LR_MAX)


def test_ema_update(config, initial, one_device):
  host, *_ = initial
  s1, _ = one_device
  d = min(config.train.ema_decay, 1 / 10)  # the warm-up at step 0
  want = jax.tree.map(lambda e, p: d * e + (1 - d) * p, host.ema, g_trainable(s1.variables))
  for (path, x), (_, y) in zip(jax.tree_util.tree_leaves_with_path(s1.ema),
                               jax.tree_util.tree_leaves_with_path(want)):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7, err_msg=jax.tree_util.keystr(path))


def test_bfloat16_compute_float32_params(config, initial, one_device):
  host, _, _, batches = initial
  _, m1 = one_device
  c = settings.complete(load_config("spade/tiny"))
  c.dtype = "bfloat16"
  d = parallel.make_driver(c)
  s, m = d.train_step(d.from_host(host), d.put_batch(batches[0]))
  m = d.metrics_to_host(m)
  s = jax.device_get(s)
  for leaf in jax.tree.leaves((s.variables, s.opt_state, s.ema)):
    assert leaf.dtype in (np.float32, np.int32), leaf.dtype
  assert m["finite"] == 1.0
  for k in ("GAN_Feat", "D_Fake", "D_real", "KLD"):
    assert m[k] == pytest.approx(m1[k], rel=0.05, abs=0.02), k


def test_bn_reestimation_mesh_matches_pmap(config, initial, one_device):
  _, driver, _, batches = initial
  s1, _ = one_device
  rng = np.asarray(jax.random.PRNGKey(5))
  vm = jax.device_get(driver.sampling_variables(driver.from_host(s1), batches, rng))
  pm = parallel.PmapDriver(models.build(config))
  vp = jax.device_get(pm.sampling_variables(pm.from_host(s1), batches, rng))
  fm, fp = ckpt.flatten(vm), ckpt.flatten(vp)
  assert fm.keys() == fp.keys()
  for k in fm:
    np.testing.assert_allclose(fm[k], fp[k], rtol=2e-4, atol=2e-5, err_msg=k)
  # EMA params; BN statistics re-estimated (not G's running ones); spectral-norm vectors advanced.
  for x, y in zip(jax.tree.leaves(vm["G"]["params"]), jax.tree.leaves(s1.ema["G"])):
    np.testing.assert_array_equal(x, y)
  g_stats = s1.variables["G"]["batch_stats"]
  mean_new = vm["G"]["batch_stats"]["head_0"]["norm_0"]["param_free_norm"]["mean"]
  mean_old = g_stats["head_0"]["norm_0"]["param_free_norm"]["mean"]
  assert np.isfinite(mean_new).all() and not np.allclose(mean_new, mean_old)
  u_new = vm["G"]["batch_stats"]["head_0"]["conv_0"]["u"]
  assert not np.array_equal(u_new, g_stats["head_0"]["conv_0"]["u"])


def test_bench_json_keys(config):
  bench = load_script(REPO / "bench" / "train_step.py")
  r = bench.run(load_config("spade/tiny"), steps=2, warmup=1)
  for k in ("ms_per_iter", "images_per_s", "peak_memory_bytes", "flops_per_iter", "device", "versions",
            "config"):
    assert k in r, k
  assert r["ms_per_iter"] > 0 and r["flops_per_iter"] > 0 and r["peak_memory_bytes"] > 0
  assert r["device"]["count"] == 4 and r["config"]["model"]["ngf"] == 4
