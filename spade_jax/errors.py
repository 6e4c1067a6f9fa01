"""User errors, and the one error boundary every command-line tool runs inside.

A *user error* is one the person at the terminal can fix: a bad option, a missing or unreadable file, bad
data. The boundary prints it as one line naming the file or option and the cause, and exits with 2;
the traceback appears only when asked (`--verbose`, or `SPADE_JAX_VERBOSE=1`). Anything else is a bug
and keeps its traceback.

What counts as a user error: `UserError` and its subclasses (the project's own: data, config,
checkpoint, input errors), `OSError` (missing files, permissions, a full disk), and a `ValueError` that
the project's own code raised on purpose (a `raise` statement in a `spade_jax` module or an entry point:
the library's convention for a bad value at the boundary).
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
from typing import Optional

VERBOSE_ENV = "SPADE_JAX_VERBOSE"
EXIT_USER_ERROR = 2
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_REPO_DIR = os.path.dirname(_PACKAGE_DIR)


class UserError(Exception):
  """An error the user can fix; `str()` is the whole message (one line, naming the file/option)."""


class ConfigError(UserError, ValueError):
  """A config value or combination that cannot work (named as `section.field`)."""


class InputError(UserError, ValueError):
  """A bad input to synthesis / the paint app (named by the input or the file it came from)."""


def verbose_requested(flag: Optional[bool] = None) -> bool:
  return bool(flag) or os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _raised_on_purpose(exc: BaseException) -> bool:
  """Whether `exc` came from a `raise` statement in our own code (not from a library, not an accident)."""
  tb = exc.__traceback__
  if tb is None:
    return False
  while tb.tb_next is not None:
    tb = tb.tb_next
  path = os.path.abspath(tb.tb_frame.f_code.co_filename)
  ours = path.startswith(_PACKAGE_DIR + os.sep) or os.path.dirname(path) == _REPO_DIR
  line = linecache.getline(path, tb.tb_lineno).strip()
  return ours and line.startswith("raise ")


def is_user_error(exc: BaseException) -> bool:
  if isinstance(exc, (UserError, OSError)):
    return True
  return isinstance(exc, ValueError) and _raised_on_purpose(exc)


def one_line(exc: BaseException) -> str:
  """The message of a user error, as printed: `error: <message>` (multi-line data reports stay whole)."""
  text = str(exc).strip() or type(exc).__name__
  if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
    text = f"{exc.filename}: {text}"
  if isinstance(exc, OSError) and exc.strerror and exc.filename:
    text = f"{exc.filename}: {exc.strerror}"
  return f"error: {text}"


@contextlib.contextmanager
def boundary(verbose: Optional[bool] = None):
  """Runs a command's body: user errors → one line on stderr, exit 2 (traceback with --verbose)."""
  try:
    yield
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
  except Exception as e:  # noqa: BLE001 - sorted into user errors and bugs below
    if not is_user_error(e) or verbose_requested(verbose):
      raise
    print(one_line(e), file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def add_verbose_flag(parser) -> None:
  """`--verbose` on an argparse command line tool (see `run_main`)."""
  parser.add_argument("--verbose", action="store_true",
                      help=f"show the traceback of user errors (also {VERBOSE_ENV}=1)")


def run_main(main, argv: Optional[list] = None) -> None:
  """Runs an argparse tool's `main(argv) -> exit code` inside the boundary, then exits with its code.
  Its parser should have `add_verbose_flag`."""
  args = sys.argv[1:] if argv is None else argv
  with boundary("--verbose" in args):
    code = main(argv)
  sys.exit(code or 0)
