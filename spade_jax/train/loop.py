"""`train_and_evaluate(config, workdir)`: the training run, the same on a laptop and a TPU pod.

Resumes from the newest readable checkpoint in `<workdir>/checkpoints/` (state, data position);
SIGTERM / SIGINT save a checkpoint and stop; a non-finite loss or parameter stops the run after
keeping the last good checkpoint. See the README's "Training" section.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import signal
import time
from typing import Any, Optional

import jax
import numpy as np

from spade_jax import models
from spade_jax.configs import common
from spade_jax.configs import validate as config_check
from spade_jax.errors import ConfigError, UserError
from spade_jax.train import checkpoint as ckpt_lib
from spade_jax.train import distributed, logs, parallel

log = logging.getLogger("spade_jax.train")


class NonFiniteLossError(UserError, FloatingPointError):
  """A loss or a parameter became NaN / inf; the message names the step and the last checkpoint."""


@dataclasses.dataclass
class Result:
  step: int
  state: Any  # the driver's state (device arrays)
  driver: Any
  metrics: dict  # the last logged averages
  interrupted: Optional[int] = None  # the signal number when stopped by SIGTERM / SIGINT
  last_grid: Optional[str] = None
  wall_s: float = 0.0


# ----------------------------------------------------------------------------------------------
def make_train_iterator(config, *, process_index: int, process_count: int):
  from spade_jax.data import pipeline
  return pipeline.make_iterator(config, "train", process_index=process_index,
                                process_count=process_count, seed=int(config.seed))


def sample_batch(config, n: int, keys=("image", "label", "instance")) -> Optional[dict]:
  """The first `n` samples of the val split (the train split when there is none): the same on
  every process, fixed for the whole run."""
  if n <= 0:
    return None
  from spade_jax.data import pipeline
  try:
    it = pipeline.make_iterator(config, "val", process_index=0, process_count=1)
  except Exception as e:  # noqa: BLE001 - no val split: fall back to training samples
    log.info("no val split for the image grids (%s); using training samples", e)
    it = pipeline.make_iterator(config, "train", process_index=0, process_count=1,
                                seed=int(config.seed) + 1)
  rows = []
  total = 0
  for b in it:
    keep = b["mask"] if "mask" in b else np.ones(len(b["image"]), bool)
    rows.append({k: np.asarray(b[k])[keep] for k in keys if k in b})
    total += int(keep.sum())
    if total >= n:
      break
  if not rows:
    return None
  return {k: np.concatenate([r[k] for r in rows])[:n] for k in rows[0]}


def validate(config, num_devices: int, process_count: int):
  b = int(config.batch_size)
  if b % num_devices:
    raise ConfigError(f"config: batch_size={b} (global) must be divisible by the {num_devices} devices")
  if b % process_count:
    raise ConfigError(f"config: batch_size={b} must be divisible by the {process_count} processes")


class _Signals:
  """SIGTERM / SIGINT set a flag (a second SIGINT interrupts at once)."""

  def __init__(self):
    self.received: Optional[int] = None
    self._old = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      try:
        self._old[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread: no handlers
        pass
    return self

  def _handle(self, signum, frame):
    if self.received == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.received = signum

  def __exit__(self, *exc):
    for sig, old in self._old.items():
      signal.signal(sig, old)


def _set_compilation_cache(config):
  """`compilation_cache_dir`: "auto" (the default) = $JAX_COMPILATION_CACHE_DIR, else
  `~/.cache/spade_jax/xla` (`spade_jax.xla_flags.default_cache_dir`); "" = none; else that folder.
  A cache already set in this process (tests, a notebook) is kept. Runs of several processes use a
  folder of their own: an executable compiled without cross-process collectives must never be
  picked up by a multi-process run of the same program."""
  from spade_jax import xla_flags
  path = config.get("compilation_cache_dir", "auto")
  if not path or jax.config.jax_compilation_cache_dir:
    return
  if path == "auto":
    path = os.environ.get("JAX_COMPILATION_CACHE_DIR") or xla_flags.default_cache_dir()
  path = os.path.expanduser(path)
  if jax.process_count() > 1:
    path = os.path.join(path, f"processes_{jax.process_count()}")
  xla_flags.enable_compilation_cache(path)


# ----------------------------------------------------------------------------------------------
def train_and_evaluate(config, workdir: str, *, data_iterator=None, family=None) -> Result:
  """Trains `config` in `workdir` (resuming when it holds checkpoints).

  `family` defaults to the one `config.family` names. A family that trains in stages
  (`staged_train`) drives this function itself, once per stage, with the stage's family and data."""
  config = common.complete(config)
  config_check.check(config)  # before any data preparation or compilation
  distributed.maybe_initialize(config)
  _set_compilation_cache(config)
  if family is None:
    family = models.build(config)
    if family.staged_train is not None:
      return family.staged_train(workdir, train_and_evaluate)
  t_start = time.time()
  primary = jax.process_index() == 0
  driver = parallel.make_driver(config, family=family)
  validate(config, driver.num_devices, jax.process_count())
  total = int(config.total_steps)

  progress = logs.Progress(total, active=primary)
  checkpoints = ckpt_lib.Checkpointer(workdir, config, family=family, keep=int(config.keep_checkpoints),
                                      async_save=bool(config.async_checkpointing))
  try:
    restored = checkpoints.restore(driver.abstract_state())  # refuses another model's checkpoint
  except BaseException:
    checkpoints.close()
    raise
  # Only now, with the resume accepted, does the run write into the workdir.
  out = logs.Logs(workdir, active=primary)
  if primary:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(config.to_dict(), f, indent=2, sort_keys=True)
  it = data_iterator or make_train_iterator(config, process_index=jax.process_index(),
                                            process_count=jax.process_count())
  if restored is not None:
    state = driver.from_host(restored.state)
    step = restored.step
    if restored.data_state is not None:
      it.set_state(restored.data_state)
    out.truncate_after(step)
    progress.message(f"resumed from {checkpoints.directory}/{step}")
  else:
    state = driver.init_state(np.asarray(jax.random.PRNGKey(int(config.seed))))
    step = 0
    progress.message(f"training from scratch: {total} steps, global batch {config.batch_size} on "
                     f"{driver.num_devices} device(s) × {jax.process_count()} process(es)")

  resources = driver.put_resources(family.load_resources())
  grid_rows = (sample_batch(config, int(config.num_sample_images), family.batch_keys)
               if config.image_every_steps else None)
  colours = logs.palette(config) if grid_rows is not None else None
  recent = collections.deque(maxlen=max(int(family.refinement_batches), 0))

  pending: list[tuple[int, dict]] = []
  last_avg: dict = {}
  last_grid = None
  data_state = it.get_state()
  last_saved = step if restored is not None else None
  compiled = False

  def flush_metrics():
    """Fetches the pending per-step metrics, checks them, logs their average."""
    nonlocal t_last, step_last, last_avg
    if not pending:
      return
    fetched = [(s, driver.metrics_to_host(m)) for s, m in pending]
    pending.clear()
    for s, m in fetched:
      bad = [k for k, v in m.items() if not np.isfinite(v) or (k == "finite" and v < 1)]
      if bad:
        _non_finite(s, m, bad, checkpoints, out, progress)
    now = time.time()
    rate = (step - step_last) / max(now - t_last, 1e-9)
    avg = {k: float(np.mean([m[k] for _, m in fetched])) for k in fetched[0][1] if k != "finite"}
    avg.update({"steps_per_s": rate, "images_per_s": rate * int(config.batch_size),
                **family.learning_rates(step), "time": now})
    out.scalars(step, avg)
    progress.update(step, rate, avg)
    t_last, step_last, last_avg = now, step, avg

  def save(force: bool):
    nonlocal last_saved
    flush_metrics()  # every saved checkpoint follows only finite steps
    if checkpoints.save(step, driver.to_host(state), data_state, force=force):
      last_saved = step

  stop = None
  try:
    with _Signals() as signals:
      while step < total:
        batch = next(it)
        data_state = it.get_state()  # the position *after* this batch: what a resume continues from
        if recent.maxlen:
          recent.append({k: batch[k] for k in family.batch_keys if k in batch})
        device_batch = driver.put_batch(batch)
        if not compiled:  # ahead of time, so that the user sees what the wait is, and the ETA skips it
          if not driver.is_compiled(device_batch):
            t0 = time.time()
            progress.message("compiling the training step …")
            driver.compile_step(state, device_batch, resources)
            progress.message(f"compiled the training step in {time.time() - t0:.1f} s")
          compiled = True
          t_last, step_last = time.time(), step
        state, metrics = driver.train_step(state, device_batch, resources)
        step += 1
        pending.append((step, metrics))

        stop = signals.received
        if jax.process_count() > 1 and (step % int(config.log_every_steps) == 0):
          from jax.experimental import multihost_utils
          flags = multihost_utils.process_allgather(np.int32(stop or 0))
          stop = int(np.max(flags)) or None
        if step % int(config.log_every_steps) == 0 or step == total or stop:
          flush_metrics()
        if grid_rows is not None and (step % int(config.image_every_steps) == 0 or step == total):
          flush_metrics()
          last_grid = _grid(driver, state, recent, grid_rows, colours, config, step, out)
        if stop:
          save(force=True)
          checkpoints.wait()
          name = signal.Signals(stop).name
          progress.message(f"{name}: saved checkpoint {checkpoints.directory}/{step}; run the same "
                           "command again to resume")
          break
        if step % int(config.checkpoint_every_steps) == 0 or step == total:
          save(force=True)

    flush_metrics()
  finally:
    # Also after a crash or Ctrl-C: a checkpoint still being written (async) is finished, so that
    # nothing saved earlier is lost and a resume does not race with the background save.
    checkpoints.close()
    out.close()
    progress.close()
  wall = time.time() - t_start
  if primary and not stop:
    progress.message(f"done: step {step} in {wall / 60:.1f} min; checkpoints in {checkpoints.directory}")
  return Result(step, state, driver, last_avg, interrupted=stop, last_grid=last_grid, wall_s=wall)


def _grid(driver, state, recent, rows, colours, config, step, out) -> Optional[str]:
  rng = np.asarray(jax.random.fold_in(jax.random.PRNGKey(int(config.seed) + 1), step))
  variables = driver.sampling_variables(state, list(recent), rng)
  fake = driver.sample(variables, rows, rng)
  grid = logs.image_grid(rows["label"], fake, rows["image"], colours)
  return out.grid(step, grid)


def _non_finite(step, metrics, bad, checkpoints, out, progress):
  checkpoints.wait()
  steps = checkpoints.all_steps()
  last = f"{checkpoints.directory}/{steps[-1]}" if steps else "none (no checkpoint was written yet)"
  terms = ", ".join(f"{k}={metrics[k]}" for k in bad if k != "finite")
  what = ("a parameter became non-finite" if bad == ["finite"] else f"non-finite loss ({terms})")
  msg = (f"stopped at step {step}: {what}. The last good checkpoint is {last} (written after finite "
         "steps only, with checksums that a resume verifies); re-running resumes from it. If it happens "
         "again: lower train.lr, check the data (python -m spade_jax.data.inspect), or use "
         "dtype=float32 instead of bfloat16.")
  out.scalars(step, {"non_finite": 1.0})
  out.close()
  progress.message(msg)
  checkpoints.close()
  raise NonFiniteLossError(msg)
