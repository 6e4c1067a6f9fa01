"""Data problems: one line each naming the file and the cause, shared by builders and `inspect`."""

from __future__ import annotations

import dataclasses
from typing import Iterable

from spade_jax.errors import UserError


@dataclasses.dataclass(frozen=True, order=True)
class Problem:
  path: str  # the file (or directory) at fault
  cause: str

  def __str__(self) -> str:
    return f"{self.path}: {self.cause}"


class DataError(UserError):
  """Bad input data. `str()` is one line per problem; no traceback is needed to understand it."""

  def __init__(self, problems: Iterable[Problem], header: str = ""):
    self.problems = sorted(set(problems))
    lines = ([header] if header else []) + [str(p) for p in self.problems]
    super().__init__("\n".join(lines))

