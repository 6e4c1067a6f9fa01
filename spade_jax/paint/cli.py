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
config_flags.DEFINE_config_file("config", None, "Config: a file (configs/<family>/<name>.py) or a built-in "
                                "name; optional when --workdir holds the run's config.json.", lock_config=True)
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


def _reproduce_args(family_name: str, step) -> list[str]:
  """eval.py arguments that load the same model (written into the export's params.json)."""
  if FLAGS["official-checkpoint"].value:
    return ["--official-checkpoint", FLAGS["official-checkpoint"].value, "--official-options",
            FLAGS["official-options"].value, "--family", family_name]
  if FLAGS.config is None:  # the config the run wrote into its workdir
    return ["--workdir", FLAGS.workdir, "--step", str(step)]
  return _config_args(step)


def _config_args(step) -> list[str]:
  args = ["--config", config_flags.get_config_filename(FLAGS["config"])]
  for k, v in sorted(config_flags.get_override_values(FLAGS["config"]).items()):
    args.append(f"--config.{k}={v}")
  return args + ["--workdir", FLAGS.workdir, "--step", str(step)]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  log = lambda s: print(s, flush=True)  # noqa: E731
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
    if FLAGS.workdir and not os.path.isdir(FLAGS.workdir):
      raise FileNotFoundError(f"--workdir {FLAGS.workdir}: no such directory")
    from spade_jax import api
    model = api.open_model(config=FLAGS.config, workdir=FLAGS.workdir, step=FLAGS.step,
                           official_checkpoint=FLAGS["official-checkpoint"].value,
                           official_options=FLAGS["official-options"].value, family=FLAGS.family, log=log)
    fam, variables, step = model.family, model.variables, model.step
    source = FLAGS["official-checkpoint"].value or FLAGS.workdir
    from spade_jax.paint.engine import Engine
    from spade_jax.paint.examples import Examples
    engine = Engine(fam, variables, variations=FLAGS.variations)
    h, w = engine.hw
    log(f"paint: {fam.name} model, {h}x{w}, {engine.n_ids} classes, inputs: {', '.join(engine.spec)} "
        f"(loaded in {time.perf_counter() - t0:.1f} s); compiling{' (cache ' + cache + ')' if cache else ''} ...")
    engine.warmup(log)
    server.engine = engine
    server.meta = {"source": source, "step": step, "reproduce_args": _reproduce_args(fam.name, step)}
    server.examples = Examples(fam.config, FLAGS.examples)
    server.log_requests = FLAGS["log-requests"].value
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
  """`spade-paint` / `python paint.py` (one-line user errors, --version, built-in --config names)."""
  from spade_jax import cli
  cli.run(main)
