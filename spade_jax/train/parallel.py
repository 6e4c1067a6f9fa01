"""Two drivers of a family's pure step (`Family.train_step`): `jax.jit` over a Mesh, and `jax.pmap`.

MeshDriver (`config.parallel = "mesh"`, the default): one `data` axis over every device of every
process; the state is replicated (`NamedSharding(mesh, P())`), created sharded by a jit with
`out_shardings` and donated to each step; the batch is sharded over its first axis. The family has
no axis name: under jit the mean over the global batch already is the cross-device BN statistic.

PmapDriver (`config.parallel = "pmap"`): the family is built with `axis_name="batch"` (gradients,
metrics and BN statistics are averaged over it); the state carries a leading device axis.

Both expose the same methods, so the loop, the checkpoints and the tests do not care which one runs:
`init_state`, `abstract_state`, `to_host` / `from_host` (the checkpointed form: one copy),
`put_batch`, `put_resources`, `train_step`, `metrics_to_host`, `sampling_variables`, `sample`.
"""

from __future__ import annotations



import flax.jax_utils
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from spade_jax import models

# Initialisation runs once: on CPU, compile it without the expensive backend passes.
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def compile_once(jitted, *args):
  """AOT-compiles a function that runs once (state creation), with cheap compiler settings on CPU."""
  opts = INIT_COMPILER_OPTIONS if jax.devices()[0].platform == "cpu" else None
  return jitted.lower(*args).compile(compiler_options=opts)


def _finite(tree) -> jax.Array:
  leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def make_step_fn(family):
  """`(state, batch, resources) → (state, metrics)`: the family's iteration plus `finite` (every
  floating-point leaf of the new state finite). `resources` is None when the family needs none."""

  def fn(state, batch, resources):
    state, metrics = family.train_step(state, batch, resources)
    metrics["finite"] = _finite(state).astype(jnp.float32)
    return state, metrics

  return fn


def _train_batch(batch: dict, keys) -> dict:
  return {k: np.asarray(batch[k]) for k in keys if k in batch}


class MeshDriver:
  axis_name = None

  def __init__(self, family, devices=None):
    self.family = family
    self.config = family.config
    self.batch_keys = family.batch_keys
    self.devices = list(devices if devices is not None else jax.devices())
    self.mesh = Mesh(np.array(self.devices), ("data",))
    self.replicated = NamedSharding(self.mesh, P())
    self.data_sharding = NamedSharding(self.mesh, P("data"))
    self.num_devices = len(self.devices)
    self._step = jax.jit(make_step_fn(family), donate_argnums=0,
                         in_shardings=(self.replicated, self.data_sharding, self.replicated),
                         out_shardings=(self.replicated, self.replicated))
    self._init = jax.jit(family.init_state, out_shardings=self.replicated)
    self._init_compiled = None
    self._refine = jax.jit(family.refine_sampling_variables,
                           in_shardings=(self.replicated, NamedSharding(self.mesh, P(None, "data")),
                                         self.replicated),
                           out_shardings=self.replicated)
    self._sample = jax.jit(family.sample, out_shardings=self.replicated)

  # ----- state -----
  def init_state(self, rng: jax.Array):
    if self._init_compiled is None:
      self._init_compiled = compile_once(self._init, rng)
    return self._init_compiled(rng)

  def abstract_state(self):
    shapes = jax.eval_shape(self.family.init_state, jax.random.PRNGKey(0))
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.replicated), shapes)

  def to_host(self, state):
    return state  # already one (replicated, global) copy; orbax writes it once

  def from_host(self, tree):
    return jax.tree.map(lambda x: x if _has_sharding(x, self.replicated) else self.replicate(x), tree)

  def replicate(self, tree):
    """Host values (the same on every process) → replicated global arrays."""
    def put(x):
      x = np.asarray(x)
      return jax.make_array_from_callback(x.shape, self.replicated, lambda idx: x[idx])
    return jax.tree.map(put, tree)

  def put_resources(self, tree):
    return None if tree is None else self.replicate(tree)

  # ----- data -----
  def put_batch(self, local_batch: dict) -> dict:
    """This process's numpy batch → the global batch, sharded over `data`."""
    return {k: jax.make_array_from_process_local_data(self.data_sharding, v)
            for k, v in _train_batch(local_batch, self.batch_keys).items()}

  def put_stacked(self, local_batches: list) -> dict:
    keys = _train_batch(local_batches[0], self.batch_keys)
    stacked = {k: np.stack([b[k] for b in local_batches]) for k in keys}
    sharding = NamedSharding(self.mesh, P(None, "data"))
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in stacked.items()}

  # ----- steps -----
  def compile_step(self, state, batch, resources=None) -> bool:
    """Compiles the step for these shapes ahead of time (the first `train_step` then only runs);
    False when this driver already has it."""
    return _compile_step(self, state, batch, resources)

  def is_compiled(self, batch) -> bool:
    return _batch_key(batch) in self.__dict__.get("_compiled", {})

  def train_step(self, state, batch, resources=None):
    return _step_fn(self, batch)(state, batch, resources)

  def metrics_to_host(self, metrics: dict) -> dict:
    return {k: float(np.asarray(v.addressable_data(0))) for k, v in metrics.items()}

  def sampling_variables(self, state, recent_batches: list, rng):
    """The family's sampling variables (EMA weights, …), refined over `recent_batches` when it asks."""
    variables = self.family.sampling_variables(state)
    if not recent_batches or not self.family.needs_refinement(state):
      return variables
    return self._refine(variables, self.put_stacked(recent_batches), rng)

  def sample(self, variables, batch: dict, rng) -> np.ndarray:
    """Eval-mode samples for a small batch given in full on every process → numpy."""
    out = self._sample(variables, self.replicate(_train_batch(batch, self.batch_keys)), rng)
    return np.asarray(out.addressable_data(0))


class PmapDriver:
  axis_name = "batch"

  def __init__(self, family, devices=None):
    self.plain = family.with_axis(None)  # init and eval-mode sampling: no collectives
    self.family = family.with_axis(self.axis_name)
    self.config = family.config
    self.batch_keys = family.batch_keys
    self.devices = list(devices if devices is not None else jax.local_devices())
    self.num_devices = len(self.devices) * jax.process_count()
    self._step = jax.pmap(make_step_fn(self.family), axis_name=self.axis_name,
                          donate_argnums=0, in_axes=(0, 0, 0), devices=self.devices)
    self._init = jax.jit(self.plain.init_state)
    self._init_compiled = None
    self._refine = jax.pmap(self.family.refine_sampling_variables, axis_name=self.axis_name,
                            in_axes=(0, 0, None), devices=self.devices)
    self._sample = jax.jit(self.plain.sample)

  def init_state(self, rng):
    if self._init_compiled is None:
      self._init_compiled = compile_once(self._init, rng)
    return self.from_host(self._init_compiled(rng))

  def abstract_state(self):
    dev = jax.sharding.SingleDeviceSharding(self.devices[0])
    shapes = jax.eval_shape(self.plain.init_state, jax.random.PRNGKey(0))
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=dev), shapes)

  def to_host(self, state):
    # One copy on the host: orbax writes numpy from the primary process only (works multi-host).
    return jax.device_get(flax.jax_utils.unreplicate(state))

  def from_host(self, tree):
    return flax.jax_utils.replicate(tree, devices=self.devices)

  def put_resources(self, tree):
    """Replicated once (a leading device axis), mapped like the state: not sent again each step."""
    return None if tree is None else flax.jax_utils.replicate(tree, devices=self.devices)

  def put_batch(self, local_batch: dict) -> dict:
    n = len(self.devices)
    out = {}
    for k, v in _train_batch(local_batch, self.batch_keys).items():
      if v.shape[0] % n:
        raise ValueError(f"per-process batch {v.shape[0]} is not divisible by {n} local devices")
      out[k] = v.reshape((n, v.shape[0] // n) + v.shape[1:])
    return out

  def compile_step(self, state, batch, resources=None) -> bool:
    return _compile_step(self, state, batch, resources)

  def is_compiled(self, batch) -> bool:
    return _batch_key(batch) in self.__dict__.get("_compiled", {})

  def train_step(self, state, batch, resources=None):
    return _step_fn(self, batch)(state, batch, resources)

  def metrics_to_host(self, metrics: dict) -> dict:
    return {k: float(np.asarray(v)[0]) for k, v in metrics.items()}

  def sampling_variables(self, state, recent_batches: list, rng):
    host = flax.jax_utils.unreplicate(state)
    variables = self.plain.sampling_variables(host)
    if not recent_batches or not self.plain.needs_refinement(host):
      return variables
    n = len(self.devices)
    keys = _train_batch(recent_batches[0], self.batch_keys)
    stacked = {k: np.stack([b[k] for b in recent_batches]) for k in keys}
    # [K, b, ...] → [n, K, b/n, ...]
    stacked = {k: np.moveaxis(v.reshape((v.shape[0], n, v.shape[1] // n) + v.shape[2:]), 1, 0)
               for k, v in stacked.items()}
    out = self._refine(flax.jax_utils.replicate(variables, devices=self.devices), stacked, rng)
    return flax.jax_utils.unreplicate(out)

  def sample(self, variables, batch: dict, rng) -> np.ndarray:
    return np.asarray(self._sample(variables, _train_batch(batch, self.batch_keys), rng))


def _batch_key(batch) -> tuple:
  return tuple(sorted((k, tuple(v.shape), str(v.dtype)) for k, v in batch.items()))


def _compile_step(driver, state, batch, resources) -> bool:
  compiled = driver.__dict__.setdefault("_compiled", {})
  key = _batch_key(batch)
  if key in compiled:
    return False
  compiled[key] = driver._step.lower(state, batch, resources).compile()  # noqa: SLF001
  return True


def _step_fn(driver, batch):
  return driver.__dict__.get("_compiled", {}).get(_batch_key(batch), driver._step)  # noqa: SLF001


def _has_sharding(x, sharding) -> bool:
  return isinstance(x, jax.Array) and x.sharding == sharding


def make_driver(config, devices=None, family=None):
  """The driver of `config.parallel` for `family` (default: the one `config.family` names). Drivers
  are cached per (family's compile key, devices): a second run in the same process (a notebook, the
  tests) reuses the traced and compiled functions."""
  kind = config.get("parallel", "mesh")
  if kind not in ("mesh", "pmap"):
    raise ValueError(f"parallel={kind!r}: expected 'mesh' or 'pmap'")
  family = family if family is not None else models.build(config)
  key = (kind, family.compile_key(), tuple(devices) if devices is not None else None)
  driver = _DRIVERS.get(key)
  if driver is None:
    driver = (MeshDriver if kind == "mesh" else PmapDriver)(family, devices)
    _DRIVERS[key] = driver
    while len(_DRIVERS) > 4:
      _DRIVERS.pop(next(iter(_DRIVERS)))
  return driver


_DRIVERS: dict = {}
