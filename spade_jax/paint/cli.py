"""`python paint.py`: load a model, compile every call the page makes, serve the page.

  python paint.py --config configs/spade/synthetic.py --workdir runs/synthetic [--step N] [--port P]
  python paint.py --official-checkpoint latest_net_G.pth --official-options opt.txt [--family spade]

The port is bound first (a port in use stops it before the slow load), then the model is loaded
through its family, every input combination the page can send is compiled (progress lines; JAX's
persistent compilation cache under `--cache-dir` makes a restart fast), and the URL is printed.
User errors are one line on stderr and exit status 2.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file (configs/<family>/<name>.py).", lock_config=True)
flags.DEFINE_string("workdir", None, "Training work directory (its checkpoints are read).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
flags.DEFINE_string("official-checkpoint", None, "Official latest_net_G.pth (or .npz export).")
flags.DEFINE_string("official-options", None, "The official opt.txt / opt.pkl of that checkpoint.")
flags.DEFINE_string("family", None, "Model family of --official-checkpoint (default: spade).")
flags.DEFINE_string("host", "127.0.0.1", "Address to bind (default: this machine only).")
flags.DEFINE_integer("port", 8000, "Port (0: any free port).")
flags.DEFINE_string("examples", None, "Directory of label PNGs for 'random example' (default: the val split).")
flags.DEFINE_integer("variations", 6, "Images in the variations grid (multimodal models).")
flags.DEFINE_string("cache-dir", None, "JAX persistent compilation cache (default: $JAX_COMPILATION_CACHE_DIR, "
                    "else $SPADE_JAX_CACHE/xla or ~/.cache/spade_jax/xla; '' turns it off).")
flags.DEFINE_bool("log-requests", False, "Print one line per HTTP request.")


def cache_dir() -> str:
  """`--cache-dir`, else `$JAX_COMPILATION_CACHE_DIR`, else `spade_jax.xla_flags.default_cache_dir()`
  (`$SPADE_JAX_CACHE/xla` or `~/.cache/spade_jax/xla`); "" = no persistent cache."""
  from spade_jax import xla_flags
  if FLAGS["cache-dir"].value is not None:
    return FLAGS["cache-dir"].value
  return os.environ.get("JAX_COMPILATION_CACHE_DIR") or xla_flags.default_cache_dir()


def load_model(config=None, workdir=None, step=None, official_checkpoint=None, official_options=None,
               family=None, log=print):
  """→ (family, variables, step or None, "what was loaded", eval.py arguments that load the same)."""
  if official_checkpoint or official_options:
    if not (official_checkpoint and official_options):
      raise app.UsageError("--official-checkpoint and --official-options go together")
    from spade_jax import models
    from spade_jax.configs.common import DEFAULT_FAMILY
    cls = models.get(family or DEFAULT_FAMILY)
    if getattr(cls, "load_official", None) is None:
      raise app.UsageError(f"the {cls.name} family cannot read official checkpoints")
    fam, variables = cls.load_official(official_checkpoint, official_options)
    args = ["--official-checkpoint", official_checkpoint, "--official-options", official_options,
            "--family", cls.name]
    return fam, variables, None, official_checkpoint, args
  if config is None or workdir is None:
    raise app.UsageError("give --config and --workdir, or --official-checkpoint and --official-options")
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"--workdir {workdir}: no such directory")
  from spade_jax.evaluate.restore import load_for_inference
  fam, variables, step = load_for_inference(config, workdir, step, log=log, return_step=True)
  return fam, variables, int(step), workdir, None


def _config_args(step) -> list[str]:
  args = ["--config", config_flags.get_config_filename(FLAGS["config"])]
  for k, v in sorted(config_flags.get_override_values(FLAGS["config"]).items()):
    args.append(f"--config.{k}={v}")
  return args + ["--workdir", FLAGS.workdir, "--step", str(step)]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  log = lambda s: print(s, flush=True)  # noqa: E731
  if not FLAGS["verbosity"].present:
    from absl import logging
    logging.set_verbosity(logging.WARNING)  # the checkpoint library's INFO lines are not for this terminal
  try:
    from spade_jax.paint.server import PaintServer
    try:
      server = PaintServer((FLAGS.host, FLAGS.port), None, meta={})
    except OSError as e:
      if e.errno == errno.EADDRINUSE:
        raise ValueError(f"--port {FLAGS.port}: address {FLAGS.host}:{FLAGS.port} is already in use (another "
                         "paint server? choose another --port, or --port 0 for any free one)") from None
      raise ValueError(f"--host {FLAGS.host} --port {FLAGS.port}: cannot bind ({e.strerror or e})") from None
    if FLAGS.examples and not os.path.exists(FLAGS.examples):
      raise FileNotFoundError(f"--examples {FLAGS.examples}: no such directory or file")
    from spade_jax import xla_flags
    xla_flags.configure(cache=False)  # the CPU backend flags of every entry point, before JAX starts
    cache = cache_dir()
    if cache:  # every compiled call is kept, however quick: a restart compiles nothing
      xla_flags.enable_compilation_cache(cache, min_compile_time_s=0.0)
    t0 = time.perf_counter()
    fam, variables, step, source, args = load_model(
        FLAGS.config, FLAGS.workdir, FLAGS.step, FLAGS["official-checkpoint"].value,
        FLAGS["official-options"].value, FLAGS.family, log=log)
    from spade_jax.paint.engine import Engine
    from spade_jax.paint.examples import Examples
    engine = Engine(fam, variables, variations=FLAGS.variations)
    h, w = engine.hw
    log(f"paint: {fam.name} model, {h}x{w}, {engine.n_ids} classes, inputs: {', '.join(engine.spec)} "
        f"(loaded in {time.perf_counter() - t0:.1f} s); compiling{' (cache ' + cache + ')' if cache else ''} ...")
    engine.warmup(log)
    server.engine = engine
    server.meta = {"source": source, "step": step, "reproduce_args": args if args is not None else _config_args(step)}
    server.examples = Examples(fam.config, FLAGS.examples)
    server.log_requests = FLAGS["log-requests"].value
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:  # Ctrl-C while loading or compiling
    print("paint: stopped before serving", file=sys.stderr)
    sys.exit(130)
  if FLAGS.host not in ("127.0.0.1", "localhost", "::1"):
    log(f"paint: note: bound to {FLAGS.host}, so other machines can reach this server")
  log(f"paint: ready in {time.perf_counter() - t0:.1f} s — open {server.url}  (Ctrl-C stops)")
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    log("paint: stopped")
  finally:
    server.server_close()
    server.worker.stop()


def run():
  app.run(main)
