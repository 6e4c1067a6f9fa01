"""Checkpoints: orbax `CheckpointManager` under `<workdir>/checkpoints/<step>/`.

Each checkpoint holds four items:
  state   the family's state as a flat `{"variables.G.params.fc.kernel": array, ...}` dict (every leaf,
          EMA and optimizer states included);
  checksums  a CRC-32 of every state leaf's bytes (with its dtype and shape), computed from the arrays
          being saved and verified on every restore: a checkpoint whose content changed on disk is
          treated like an unreadable one (checkpoints written before checksums existed restore as they are);
  config  the run's config (JSON), checked on restore: a checkpoint whose state-shaping fields (the
          family's `state_fields`) differ is refused;
  data    each process's data-iterator position (`process_<i>-of-<n>.json`).

Saving is asynchronous (the arrays are copied to the host before `save` returns, so the training
step may donate them). Restoring tries the newest step first; a checkpoint that cannot be read
(corrupt, partial, or failing its checksums) is moved to `<workdir>/checkpoints_unreadable/` with a
one-line warning and the previous one is tried. A Checkpointer made with `create=False` (evaluation,
inference) never creates the checkpoint folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
import zlib
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from spade_jax.errors import UserError

log = logging.getLogger("spade_jax.train")


class ConfigMismatchError(UserError, ValueError):
  """The checkpoint in the workdir belongs to another model configuration."""


class NoUsableCheckpointError(UserError, RuntimeError):
  """Checkpoints exist but none of them can be read."""


# ----------------------------------------------------------------------------------------------
# flat state
def _key(path) -> str:
  parts = []
  for p in path:
    for attr in ("key", "name", "idx"):
      if hasattr(p, attr):
        parts.append(str(getattr(p, attr)))
        break
    else:
      parts.append(str(p))
  return ".".join(parts)


def flatten(tree) -> dict[str, Any]:
  """Pytree → `{dotted path: leaf}` (the on-disk layout of the `state` item)."""
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  flat = {}
  for path, leaf in leaves:
    k = _key(path)
    if k in flat:
      raise ValueError(f"state keys collide at {k!r}")
    flat[k] = leaf
  return flat


def unflatten(template, flat: dict[str, Any]):
  """Inverse of `flatten` for the structure of `template`; a clear error on missing/extra keys."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  keys = [_key(p) for p, _ in leaves]
  missing = [k for k in keys if k not in flat]
  extra = sorted(set(flat) - set(keys))
  if missing or extra:
    raise ConfigMismatchError("checkpoint state does not match this model: "
                              + (f"missing {missing[:5]}{' …' if len(missing) > 5 else ''} " if missing else "")
                              + (f"unexpected {extra[:5]}{' …' if len(extra) > 5 else ''}" if extra else ""))
  return jax.tree_util.tree_unflatten(treedef, [flat[k] for k in keys])


# ----------------------------------------------------------------------------------------------
# content checksums
def _host_copy(leaf) -> Optional[np.ndarray]:
  """The full value of a state leaf on this host, or None when this process holds only a part."""
  if isinstance(leaf, jax.Array):
    if leaf.is_fully_replicated:
      return np.asarray(leaf.addressable_data(0))
    if not leaf.is_fully_addressable:
      return None
  return np.asarray(leaf)


def checksum(leaf) -> Optional[str]:
  """`crc32:<dtype>:<shape>:<8 hex digits>` of a leaf's bytes (None when not all on this host)."""
  a = _host_copy(leaf)
  if a is None:
    return None
  a = np.asarray(a, order="C")
  shape = "x".join(map(str, a.shape))
  return f"crc32:{a.dtype.str}:{shape}:{zlib.crc32(a.reshape(-1).view(np.uint8)):08x}"


def checksums(flat: dict) -> dict[str, str]:
  return {k: c for k, c in ((k, checksum(v)) for k, v in flat.items()) if c is not None}


def require_checkpoints(workdir: str) -> None:
  """Raises FileNotFoundError (one line) when `workdir` holds no checkpoints folder."""
  if not os.path.isdir(os.path.join(workdir, "checkpoints")):
    raise FileNotFoundError(f"{os.path.abspath(workdir)}: no checkpoints folder (is this a training workdir?)")


class ChecksumError(ValueError):
  """A restored checkpoint's content differs from what was written."""


# ----------------------------------------------------------------------------------------------
# per-process data-iterator state
class DataStateHandler(ocp.CheckpointHandler):
  """Each process writes / reads its own `process_<i>-of-<n>.json` (iterator position)."""

  def save(self, directory: epath.Path, args: "DataStateSave"):
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    (epath.Path(directory) / name).write_text(json.dumps(args.state))

  def restore(self, directory: epath.Path, args: Optional["DataStateRestore"] = None):
    f = epath.Path(directory) / f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    return json.loads(f.read_text()) if f.exists() else None

  def metadata(self, directory):
    return None

  def finalize(self, directory):
    pass

  def close(self):
    pass


@ocp.args.register_with_handler(DataStateHandler, for_save=True)
@dataclasses.dataclass
class DataStateSave(ocp.args.CheckpointArgs):
  state: Any


@ocp.args.register_with_handler(DataStateHandler, for_restore=True)
@dataclasses.dataclass
class DataStateRestore(ocp.args.CheckpointArgs):
  pass


# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Restored:
  step: int
  state: Any  # pytree with the template's structure
  data_state: Optional[dict]
  config: dict


class Checkpointer:
  """Saves / restores `{state, config, data}`; see the module docstring."""

  def __init__(self, workdir: str, config, *, family=None, keep: int = 3, async_save: bool = True,
               create: bool = True):
    """`family` (a family class or instance; default the one `config.family` names) says which
    config fields must agree (`state_differences`) and how older checkpoints named the state's
    leaves (`legacy_key`, optional)."""
    if family is None:
      from spade_jax import models
      family = models.get(models.family_name(config))
    self.family = family
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, "checkpoints")
    self.config_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    if not create:
      require_checkpoints(self.workdir)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save,
                                           create=create, cleanup_tmp_directories=create)
    self.manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={"state": ocp.StandardCheckpointHandler(), "config": ocp.JsonCheckpointHandler(),
                       "checksums": ocp.JsonCheckpointHandler(), "data": DataStateHandler()})

  # ----- save -----
  def save(self, step: int, state, data_state: Optional[dict], *, force: bool = False) -> bool:
    """Starts saving (returns when the arrays are on the host); `force` ignores the interval."""
    if step in self.manager.all_steps():
      return False
    flat = flatten(state)
    args = ocp.args.Composite(state=ocp.args.StandardSave(flat),
                              config=ocp.args.JsonSave(self.config_dict),
                              checksums=ocp.args.JsonSave(checksums(flat)),
                              data=DataStateSave(data_state))
    return self.manager.save(int(step), args=args, force=force)

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    """Waits for a pending (async) save, then releases the manager; safe to call twice."""
    if getattr(self, "_closed", False):
      return
    self._closed = True
    self.manager.wait_until_finished()
    self.manager.close()

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  # ----- restore -----
  def _set_aside(self, step: int, reason: str):
    """Moves an unreadable checkpoint out of the way (primary process) so that the step can be
    written again later."""
    src = os.path.join(self.directory, str(step))
    if jax.process_index() == 0 and os.path.exists(src):
      dst_root = os.path.join(self.workdir, "checkpoints_unreadable")
      os.makedirs(dst_root, exist_ok=True)
      dst = os.path.join(dst_root, f"{step}.{time.strftime('%Y%m%d-%H%M%S')}")
      shutil.move(src, dst)
      reason += f"; moved to {dst}"
    log.warning("checkpoint %s is unreadable (%s): set aside, falling back to the previous one", src, reason)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices(f"spade_jax_ckpt_set_aside_{step}")
    self.manager.reload()

  def read_config(self, step: int) -> dict:
    return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config

  def _saved_names(self, step: int, keys) -> dict:
    """`{our key: its name in checkpoint step}`: the same, or the family's legacy name for leaves
    that checkpoints written by an older layout named differently."""
    legacy = getattr(self.family, "legacy_key", None)
    if legacy is None:
      return {k: k for k in keys}
    renamed = {k: legacy(k) for k in keys}
    if all(k == v for k, v in renamed.items()):
      return renamed
    meta = self.manager.item_metadata(step)
    saved = set(meta["state"].keys()) if meta is not None and meta.get("state") is not None else set()
    return {k: (k if k in saved or renamed[k] not in saved else renamed[k]) for k in keys}

  def _restore_state(self, step: int, template):
    abstract = flatten(template)
    names = self._saved_names(step, abstract)
    r = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore({names[k]: _restore_type(v) for k, v in abstract.items()}),
        data=DataStateRestore()))
    back = {v: k for k, v in names.items()}
    flat = {back.get(k, k): v for k, v in dict(r.state).items()}
    self._verify(step, flat, names)
    extra, missing = set(flat) - set(abstract), set(abstract) - set(flat)
    if extra or missing:
      raise ConfigMismatchError(f"{self.directory}/{step}: state keys differ from this model's "
                                f"(e.g. {sorted(extra or missing)[:3]})")
    _check_shapes(flat, abstract, f"{self.directory}/{step}")
    return unflatten(template, flat), r.data

  def _verify(self, step: int, flat: dict, names: dict) -> None:
    """Compares the restored leaves with the checksums written with them (when there are any)."""
    if not os.path.isdir(os.path.join(self.directory, str(step), "checksums")):
      return  # written before checksums existed
    want = self.manager.restore(step, args=ocp.args.Composite(checksums=ocp.args.JsonRestore())).checksums

    def differs(key, value) -> bool:
      w = want.get(names.get(key, key))
      c = checksum(value)
      if w is None or c is None or c.split(":")[1] != w.split(":")[1]:
        return False  # not recorded, not all on this host, or restored into another dtype
      return c != w
    bad = [k for k, v in flat.items() if differs(k, v)]
    if bad:
      raise ChecksumError(f"content differs from its checksum in {len(bad)} arrays (e.g. {bad[0]}): the "
                          "files changed after they were written")

  def _check_config(self, step: int, saved: dict, current: dict) -> None:
    diffs = self.family.state_differences(saved, current)
    if diffs:
      raise ConfigMismatchError(
          f"{self.directory}/{step} was written by another model configuration; differing "
          f"fields: {'; '.join(diffs)}. Use another --workdir, or set these fields back.")

  def restore_step(self, step: int, template, current_config: Optional[dict] = None):
    """The state of checkpoint `step` in `template`'s structure (no fallback). With `current_config`,
    a checkpoint of another model config raises ConfigMismatchError first."""
    if current_config is not None:
      self._check_config(step, self.read_config(step), current_config)
    try:
      return self._restore_state(step, template)[0]
    except ChecksumError as e:
      raise ChecksumError(f"{self.directory}/{step}: {e}") from None

  def restore(self, template, current_config: Optional[dict] = None) -> Optional[Restored]:
    """Newest readable checkpoint restored into `template`'s structure (leaves: arrays or
    `jax.ShapeDtypeStruct`s with shardings), or None when there is none.

    Raises ConfigMismatchError (naming the fields) for a checkpoint of another model config.
    """
    current = current_config if current_config is not None else self.config_dict
    tried = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        saved = self.read_config(step)
      except Exception as e:  # noqa: BLE001 - any read failure means unreadable
        self._set_aside(step, "config: " + _short(e))
        tried.append(step)
        continue
      self._check_config(step, saved, current)
      try:
        state, data_state = self._restore_state(step, template)
      except ConfigMismatchError:
        raise
      except Exception as e:  # noqa: BLE001
        self._set_aside(step, _short(e))
        tried.append(step)
        continue
      if data_state is None:
        log.warning("checkpoint %s/%d has no data-iterator position for process %d of %d (written "
                    "by another number of processes): the data order restarts", self.directory,
                    step, jax.process_index(), jax.process_count())
      return Restored(step, state, data_state, saved)
    if tried:
      raise NoUsableCheckpointError(
          f"none of the checkpoints {tried} in {self.directory} could be read (moved to "
          f"{self.workdir}/checkpoints_unreadable/); delete the workdir or restore a good copy")
    return None


def _short(e: BaseException) -> str:
  """The cause of a failed read in a few words (TensorStore errors run to hundreds of characters)."""
  text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
  if isinstance(e, ChecksumError):
    return text
  text = text.split(" [source locations=")[0]
  return f"{type(e).__name__}: {text[:120]}{'…' if len(text) > 120 else ''}"


def _restore_type(leaf):
  if isinstance(leaf, jax.ShapeDtypeStruct):
    return leaf
  if isinstance(leaf, jax.Array):
    return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding)
  arr = np.asarray(leaf)
  return jax.ShapeDtypeStruct(arr.shape, arr.dtype,
                              sharding=jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))


def _check_shapes(flat: dict, abstract: dict, where: str):
  bad = [f"{k}: checkpoint {tuple(np.shape(flat[k]))}, model {tuple(abstract[k].shape)}"
         for k in abstract if tuple(np.shape(flat[k])) != tuple(abstract[k].shape)]
  if bad:
    raise ConfigMismatchError(f"{where}: array shapes differ from this model's: {'; '.join(bad[:5])}")
