"""What the absl entry points (train.py, eval.py, paint.py, bench scripts) share: `--verbose`, a flags
parser whose errors are one line (an unknown `--config.x.y` with the nearest field names, a missing
config file), and `main` wrapped in the error boundary (`spade_jax.errors`). Importing this module
imports no JAX."""

from __future__ import annotations

import difflib
import functools
import os
import sys

from absl import app, flags

from spade_jax import errors

flags.DEFINE_bool("verbose", False, "Show the full traceback of user errors (also SPADE_JAX_VERBOSE=1).")
flags.DEFINE_bool("version", False, "Print the version and exit.")
flags.DEFINE_bool("list-configs", False, "Print the built-in config names (for --config) and exit.")
FLAGS = flags.FLAGS


def _config_paths(d: dict, prefix: str = "") -> list[str]:
  out = []
  for k, v in d.items():
    out.append(prefix + k)
    if isinstance(v, dict):
      out += _config_paths(v, f"{prefix}{k}.")
  return out


def _config_flag_problem(argv: list[str]) -> str:
  """The one-line reason a `--config*` flag fails to parse, or ""."""
  names = [a.split("=", 1)[0].lstrip("-") for a in argv[1:] if a.startswith("--config")]
  config_flag = next((a for a in argv[1:] if a.split("=", 1)[0] in ("--config",)), None)
  path = None
  if config_flag is not None:
    path = config_flag.split("=", 1)[1] if "=" in config_flag else argv[argv.index(config_flag) + 1]
  elif "config" in FLAGS and getattr(FLAGS["config"], "default", None):
    path = FLAGS["config"].default if isinstance(FLAGS["config"].default, str) else None
  if path is not None:
    file = path.split(":", 1)[0]
    if not os.path.isfile(file):
      from spade_jax.configs.load import builtin_names
      folder = os.path.dirname(file) or "."
      near = []
      if os.path.isdir(folder):
        near = [os.path.join(folder, n) for n in
                difflib.get_close_matches(os.path.basename(file), sorted(os.listdir(folder)), n=1)]
      from spade_jax.configs.common import DEFAULT_FAMILY
      names = sorted(builtin_names(), key=lambda n: not n.startswith(DEFAULT_FAMILY + "/"))
      stem = file.removeprefix("configs/").removesuffix(".py")
      near = near or difflib.get_close_matches(stem, names, n=1) or [
          n for n in names if n.endswith("/" + next(iter(difflib.get_close_matches(
              stem.rsplit("/", 1)[-1], [x.split("/")[1] for x in names], n=1)), "\0"))][:1]
      hint = f" (did you mean {near[0]}?)" if near else ""
      return (f"--config {path}: no such config file or built-in config{hint}; built-in configs: "
              "python train.py --list-configs")
  try:
    from spade_jax.configs.load import load_file
    config = load_file(path.split(":", 1)[0]) if path else None
  except Exception:  # noqa: BLE001 - the config file itself is broken: the parse error says so
    config = None
  if config is None:
    return ""
  known = _config_paths(config.to_dict())
  for name in names:
    if name == "config" or not name.startswith("config."):
      continue
    field = name[len("config."):]
    if field not in known:
      near = difflib.get_close_matches(field, known, n=2)
      hint = f" (did you mean {' or '.join(near)}?)" if near else ""
      return f"--{name}: the config has no field {field!r}{hint}"
  return ""


def _missing_config_file() -> str:
  if "config" not in FLAGS:
    return ""
  try:
    path = FLAGS["config"].config_filename
  except Exception:  # noqa: BLE001 - not a config-file flag
    return ""
  if not path or os.path.isfile(path.split(":", 1)[0]):
    return ""
  return _config_flag_problem(["", f"--config={path}"])


def _resolve_config_args(argv: list[str]) -> list[str]:
  """`--config NAME` → the built-in config's file when NAME is not a file (`configs.load.resolve`)."""
  from spade_jax.configs.load import resolve
  out = list(argv)
  for i, a in enumerate(out):
    if a == "--config" and i + 1 < len(out):
      out[i + 1] = _resolve_one(out[i + 1], resolve)
    elif a.startswith("--config="):
      out[i] = "--config=" + _resolve_one(a[len("--config="):], resolve)
  return out


def _resolve_one(value: str, resolve) -> str:
  path, sep, rest = value.partition(":")
  return resolve(path) + sep + rest


def _early_flags(argv: list[str]) -> None:
  """`--version` and `--list-configs` answer before the other flags are checked."""
  if "--version" in argv[1:]:
    from spade_jax import __version__
    print(f"{os.path.basename(argv[0])} (spade_jax) {__version__}")
    sys.exit(0)
  if "--list-configs" in argv[1:]:
    from spade_jax.configs.load import builtin_names
    try:
      print("\n".join(builtin_names()))
    except BrokenPipeError:
      pass
    sys.exit(0)


def parse_flags(argv: list[str]) -> list[str]:
  """absl `flags_parser`: `--config` takes a file or a built-in name; flag errors become one line
  (`error: ...`, exit 2)."""
  _early_flags(argv)
  argv = _resolve_config_args(argv)
  try:
    try:
      rest = FLAGS(argv)
    except SystemExit as e:  # absl's --help / --helpfull print the usage, then exit 1: asked for, so 0
      if any(a in ("--help", "-h", "--helpfull", "--helpshort", "-?") for a in argv[1:]):
        sys.exit(0)
      raise
    problem = _missing_config_file()  # config_flags reports a missing file only when it is used
    if not problem:
      return rest
  except flags.Error as e:
    problem = _config_flag_problem(argv) or str(e).splitlines()[0]
  except Exception as e:  # noqa: BLE001 - config_flags raises plain errors while parsing overrides
    problem = _config_flag_problem(argv)
    if not problem or errors.verbose_requested("--verbose" in argv):
      raise
    del e
  print(f"error: {problem}", file=sys.stderr)
  sys.exit(errors.EXIT_USER_ERROR)


def quiet_libraries(verbose: bool = False) -> None:
  """Library INFO logs (JAX's backend probing — "Unable to initialize backend 'tpu'" —, orbax's
  manager and handler chatter) stay off the terminal unless asked; warnings and errors still show."""
  import logging

  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.INFO if verbose else absl_logging.WARNING)
  level = logging.INFO if verbose else logging.WARNING
  for name in ("jax", "orbax", "absl", "tensorflow_datasets", "asyncio", "PIL"):
    logging.getLogger(name).setLevel(level)


def run(main):
  """`absl.app.run(main)` with one-line flag errors, quiet libraries and `main` inside the error
  boundary."""

  @functools.wraps(main)
  def guarded(argv):
    from spade_jax import xla_flags
    dtype = None
    if "config" in FLAGS:
      try:
        dtype = FLAGS.config.get("dtype") if FLAGS.config is not None else None
      except Exception:  # noqa: BLE001 - a config that failed to load is reported by the command
        dtype = None
    xla_flags.configure(dtype=dtype, cache=False)  # backend flags, before JAX starts (the run sets the cache)
    quiet_libraries(errors.verbose_requested(FLAGS.verbose))
    with errors.boundary(FLAGS.verbose):
      try:
        return main(argv)
      except app.UsageError as e:  # a wrong combination of flags: one line, not the whole usage text
        raise errors.UserError(f"{e} (see --help)") from None

  app.run(guarded, flags_parser=parse_flags)
