"""The model-family contract, for every registered family (`spade_jax/models/<family>/` with a
`spade_jax/configs/<family>/tiny.py`): state creation, one step under the mesh driver and under pmap
(4 CPU devices), checkpoint save → restore → the identical next step, `sample` shapes, and `generate`
with each declared input. Plus: no shared module names a family or tests a family's option, and a
checkpoint written before the family interface (commit d244fe6) still restores bit-exactly."""

import ast
import hashlib
import json
import pathlib
import tarfile

import jax
import ml_collections
import numpy as np
import pytest
from model_utils import load_config

import train_utils as testing
from spade_jax import models
from spade_jax.train import checkpoint as ckpt_lib
from spade_jax.train import loop, parallel

REPO = pathlib.Path(__file__).resolve().parents[1]
FAMILIES = models.available()


@pytest.fixture(scope="module", autouse=True)
def _xla_cache():
  with testing.compilation_cache():
    yield


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
  config = load_config(f"{request.param}/tiny")
  fam = models.build(config)
  if fam.staged_train is not None:
    fam = fam.first_stage()
  return fam


def _flat(state):
  return {k: np.asarray(v) for k, v in ckpt_lib.flatten(jax.device_get(state)).items()}


def test_registry_finds_every_family_folder():
  assert "spade" in FAMILIES
  for name in FAMILIES:
    assert models.get(name).name == name
  with pytest.raises(ValueError, match=r"config.family='spadee' is not a model family \(did you mean 'spade'\?\)"):
    models.get("spadee")


def test_state_step_checkpoint_sample_generate(family, tmp_path):
  cfg = family.config
  mesh = parallel.make_driver(cfg, family=family)
  state = mesh.init_state(np.asarray(jax.random.PRNGKey(0)))
  abstract = mesh.abstract_state()
  assert jax.tree.structure(abstract) == jax.tree.structure(state)
  host0 = jax.tree.map(lambda x: np.array(x, copy=True), jax.device_get(state))
  batches = family.example_batches(2)
  resources = mesh.put_resources(family.load_resources())

  # one step, mesh driver (state donated)
  state, metrics = mesh.train_step(state, mesh.put_batch(batches[0]), resources)
  m_mesh = mesh.metrics_to_host(metrics)
  assert m_mesh["finite"] == 1.0 and all(np.isfinite(v) for v in m_mesh.values())

  # the same step under pmap: the same losses (float32 reduction noise)
  pm = parallel.PmapDriver(family)
  _, m_pmap = pm.train_step(pm.from_host(host0), pm.put_batch(batches[0]), pm.put_resources(family.load_resources()))
  m_pmap = pm.metrics_to_host(m_pmap)
  assert m_pmap.keys() == m_mesh.keys()
  for k in m_mesh:
    np.testing.assert_allclose(m_pmap[k], m_mesh[k], rtol=1e-4, atol=1e-5, err_msg=k)

  # checkpoint → restore → the identical next step
  ck = ckpt_lib.Checkpointer(str(tmp_path), cfg, family=family, async_save=False)
  ck.save(1, mesh.to_host(state), {"step": 1}, force=True)
  restored = ck.restore(abstract)
  ck.close()
  assert restored.step == 1 and restored.data_state == {"step": 1}
  a, _ = mesh.train_step(mesh.from_host(jax.device_get(restored.state)), mesh.put_batch(batches[1]), resources)
  b, _ = mesh.train_step(state, mesh.put_batch(batches[1]), resources)
  fa, fb = _flat(a), _flat(b)
  assert fa.keys() == fb.keys()
  assert not [k for k in fa if not np.array_equal(fa[k], fb[k])]

  # sampling variables and samples
  variables = mesh.sampling_variables(b, [batches[0], batches[1]], np.asarray(jax.random.PRNGKey(3)))
  grid = mesh.sample(variables, batches[0], np.asarray(jax.random.PRNGKey(4)))
  h, w = family.image_hw
  assert grid.shape == (len(batches[0]["label"]), h, w, 3) and np.isfinite(grid).all()

  # generate: the required inputs, then each optional one added
  from spade_jax.evaluate.synthesize import generate
  spec = family.input_spec()
  example = family.example_inputs(batches[0])
  assert set(example) == {i.name for i in spec}, "example_inputs must fill every declared input"
  base = {i.name: example[i.name] for i in spec if i.required}
  host_vars = jax.device_get(variables)
  for extra in [None] + [i.name for i in spec if not i.required]:
    inputs = dict(base, **({extra: example[extra]} if extra else {}))
    img = np.asarray(generate(family, host_vars, inputs, rng=jax.random.key(0)))
    assert img.shape == (len(batches[0]["label"]), h, w, 3), extra
    assert np.isfinite(img).all() and np.abs(img).max() <= 1.0, extra


# ----------------------------------------------------------------------------------------------
SHARED = ["spade_jax/train", "spade_jax/evaluate", "spade_jax/gan", "spade_jax/data", "spade_jax/io",
          "spade_jax/nn", "spade_jax/models/__init__.py", "spade_jax/models/base.py",
          "spade_jax/models/label_map.py", "spade_jax/configs/common.py", "train.py", "eval.py"]
# The engine, the eval harness and synthesis ask the family instead of reading its options.
ENGINE = ["spade_jax/train", "spade_jax/evaluate", "spade_jax/models/__init__.py", "spade_jax/models/base.py",
          "train.py", "eval.py"]
FAMILY_OPTIONS = {"use_vae", "region_styles", "no_vgg_loss", "ema_decay", "ema_bn_batches", "norm", "z_dim"}


def _files(paths):
  for p in paths:
    p = REPO / p
    yield from (sorted(p.rglob("*.py")) if p.is_dir() else [p])


def _docstrings(tree):
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
      first = node.body[0]
      if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        out.add(id(first.value))
  return out


def test_no_shared_module_names_a_family():
  problems = []
  engine = {str(f) for f in _files(ENGINE)}
  for f in _files(SHARED):
    tree = ast.parse(f.read_text())
    docs = _docstrings(tree)
    where = f.relative_to(REPO)
    for node in ast.walk(tree):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        if isinstance(node, ast.ImportFrom) and node.module == "spade_jax.models":
          names += [f"spade_jax.models.{a.name}" for a in node.names]
        for n in names:
          parts = n.split(".")
          if len(parts) >= 3 and parts[:2] == ["spade_jax", "models"] and parts[2] in FAMILIES:
            problems.append(f"{where}:{node.lineno} imports {n}")
      if str(f) in engine:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
          if node.value in FAMILIES or node.value in ("sean", "pix2pixhd", "singan"):
            problems.append(f"{where}:{node.lineno} names the family {node.value!r}")
        if isinstance(node, ast.Attribute) and node.attr in FAMILY_OPTIONS:
          problems.append(f"{where}:{node.lineno} reads the family option .{node.attr}")
  assert not problems, "\n".join(problems)


def test_checkpoint_written_before_the_family_interface_restores(tmp_path):
  """tests/fixtures/legacy_checkpoint_d244fe6.*: a tiny run's step-2 checkpoint written by commit
  d244fe6 (`tests/fixtures/make_legacy_checkpoint.py`, 1 device), the sha256 of every leaf it holds,
  and that code's losses and per-leaf L2 norms after resuming for step 3. Restoring is exact; the next
  step agrees to float32 noise (1e-4 relative; params whose gradient is at noise level — BN-preceded
  biases — may move by Adam's ±lr either way, hence 2·lr·√n on each norm; Adam moments of such
  elements are noise and are not compared). Resuming from it through `train_and_evaluate` works."""
  fixture = REPO / "tests" / "fixtures" / "legacy_checkpoint_d244fe6"
  with tarfile.open(f"{fixture}.tar.xz") as t:
    t.extractall(tmp_path, filter="data")
  expected = json.loads(pathlib.Path(f"{fixture}.json").read_text())
  config = ml_collections.ConfigDict(expected["config"])
  family = models.build(config)
  driver = parallel.make_driver(config, family=family)
  ck = ckpt_lib.Checkpointer(str(tmp_path), config, family=family, async_save=False)
  restored = ck.restore(driver.abstract_state())
  ck.close()
  assert restored.step == expected["checkpoint_step"]
  got = {family.legacy_key(k): hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:16]
         for k, v in _flat(restored.state).items()}
  assert got == expected["checkpoint_sha256_16"]

  config.total_steps, config.checkpoint_every_steps = 3, 100
  r = loop.train_and_evaluate(config, str(tmp_path), family=family)
  assert r.step == 3
  for k, v in expected["step_3_losses"].items():
    assert r.metrics[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
  lr_max = 2 * config.train.lr
  for k, x in _flat(r.state).items():
    old = family.legacy_key(k)
    if x.dtype.kind != "f" or ".mu." in old or ".nu." in old:
      continue
    want = expected["step_3_l2_norms"][old]
    assert float(np.linalg.norm(x.astype(np.float64))) == pytest.approx(
        want, rel=1e-4, abs=2 * lr_max * np.sqrt(x.size) + 1e-6), k
