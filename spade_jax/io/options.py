"""Official option files → a dict of typed values: `opt.txt` (lines like `   crop_size: 256    [default: 512]`;
the `[default: ...]` note is ignored), `opt.pkl` (an argparse Namespace, read without executing code), or a
mapping. Shared by every family's official converter (NVlabs/SPADE, NVIDIA/pix2pixHD and ZPdesu/SEAN write
the same formats)."""

from __future__ import annotations

import ast
import os
import re
from typing import Any, Mapping


def _parse_value(text: str) -> Any:
  text = text.strip()
  if text in ("True", "False"):
    return text == "True"
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def read_opt_txt(path: str) -> dict:
  """Parses an official `opt.txt` into a dict of typed values."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"official options file not found: {path}")
  opts = {}
  with open(path, encoding="utf-8") as f:
    for line in f:
      line = re.sub(r"\[default:.*\]\s*$", "", line.rstrip("\n")).strip()
      if not line or line.startswith("-"):
        continue
      key, sep, value = line.partition(":")
      if not sep or not re.fullmatch(r"\w+", key.strip()):
        raise ValueError(f"{path}: cannot parse line {line!r} (expected 'name: value')")
      opts[key.strip()] = _parse_value(value)
  if not opts:
    raise ValueError(f"{path}: no options found")
  return opts


def read_options(source) -> dict:
  """`opt.txt` path, `opt.pkl` path (argparse Namespace, read without executing code) or a mapping."""
  if isinstance(source, Mapping):
    return dict(source)
  path = os.fspath(source)
  if path.endswith(".pkl"):
    import pickle

    class _Restricted(pickle.Unpickler):
      def find_class(self, module, name):
        if (module, name) == ("argparse", "Namespace"):
          import argparse
          return argparse.Namespace
        raise pickle.UnpicklingError(f"{path}: unexpected object {module}.{name} in options pickle")

    if not os.path.isfile(path):
      raise FileNotFoundError(f"official options file not found: {path}")
    with open(path, "rb") as f:
      return vars(_Restricted(f).load())
  return read_opt_txt(path)
