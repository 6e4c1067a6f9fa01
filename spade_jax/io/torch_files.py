"""Reads PyTorch files without importing torch: `torch.save` files (zip and legacy) and TorchScript.

Formats:
  * zip (`torch.save` since torch 1.6): one top-level folder (`archive/`, or the file stem) holding
    `data.pkl`, a pickle of the saved object in which every tensor is a call to
    `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` and every storage a persistent
    id `('storage', torch.<Type>Storage, key, location, numel)`, and `data/<key>`, the raw bytes of each
    storage (little endian unless the `byteorder` record says otherwise);
  * TorchScript (`torch.jit.save`): the same zip layout plus `code/` (compiled source, never read here)
    and `constants.pkl`; modules are pickled as `__torch__.<module> <Class>` objects whose state is
    their attribute dict;
  * legacy (`torch.save` before 1.6, e.g. torchvision's 2017 `vgg19-dcbb9e9d.pth` or the official SPADE
    checkpoints): consecutive pickles (magic number, protocol version 1001, system info, the object with
    persistent ids `('storage', type, key, location, numel, view)`, the sorted storage keys), then each
    storage as an int64 element count and its little-endian bytes.

Pickles are read by a restricted `pickle.Unpickler`: `find_class` resolves only an allow-list of names
(tensor/storage rebuild functions, `collections.OrderedDict`, a few torch value types) to local,
side-effect-free stand-ins, and TorchScript module classes to an inert attribute holder. Nothing from
the file is imported or executed. Tensors come back as numpy arrays (bfloat16 through `ml_dtypes`).

Public API: `load_state_dict(path) -> {dotted.name: np.ndarray}`; `load_object(path)` (the unpickled
object tree); `flatten_arrays(obj)`.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np

try:  # ml_dtypes ships with jax; only needed for bfloat16 tensors.
  import ml_dtypes
  _BFLOAT16: Optional[np.dtype] = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
  _BFLOAT16 = None

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
# Keys under which training scripts commonly nest the weights of a checkpoint dict.
_WRAPPER_KEYS = ("state_dict", "model")

# `torch.<Name>Storage` → numpy dtype of its elements.
_STORAGE_DTYPES: Dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"), "FloatStorage": np.dtype("<f4"), "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"), "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
    "ComplexFloatStorage": np.dtype("<c8"), "ComplexDoubleStorage": np.dtype("<c16"),
    "UntypedStorage": np.dtype("u1"),
}
# `torch.<dtype>` globals (pickled by `_rebuild_tensor_v3`, or as plain values).
_TORCH_DTYPES: Dict[str, np.dtype] = {
    "float64": np.dtype("<f8"), "float32": np.dtype("<f4"), "float16": np.dtype("<f2"),
    "int64": np.dtype("<i8"), "int32": np.dtype("<i4"), "int16": np.dtype("<i2"),
    "int8": np.dtype("i1"), "uint8": np.dtype("u1"), "bool": np.dtype("?"),
    "complex64": np.dtype("<c8"), "complex128": np.dtype("<c16"),
}
if _BFLOAT16 is not None:
  _STORAGE_DTYPES["BFloat16Storage"] = _BFLOAT16
  _TORCH_DTYPES["bfloat16"] = _BFLOAT16


class _FormatError(Exception):
  """Raised while reading; `load_object` turns it into a ValueError naming the file."""


class _StorageType:
  """Stand-in for a `torch.<Type>Storage` class: only carries the element dtype."""

  def __init__(self, name: str, dtype: np.dtype):
    self.name, self.dtype = name, dtype

  def __repr__(self) -> str:
    return f"torch.{self.name}"


class _Storage:
  """A flat array of storage elements (`array` is None during the first pass over a legacy file)."""

  def __init__(self, array: Optional[np.ndarray]):
    self.array = array


class ScriptObject:
  """Inert stand-in for a pickled TorchScript module (`__torch__.<module>.<Class>`).

  `attributes` holds the pickled attribute dict (submodules, parameters as numpy arrays, plain values);
  `type_name` is the TorchScript class name. No method of the original class exists here.
  """

  type_name = "__torch__"

  def __new__(cls, *args: Any):  # pickle's NEWOBJ calls `__new__` only
    obj = super().__new__(cls)
    obj.attributes = {}
    if args:  # constructor arguments are data: keep them
      obj.attributes["__args__"] = args
    return obj

  def __setstate__(self, state: Any) -> None:
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
      state = {**(state[0] or {}), **state[1]}  # (dict state, slot state)
    if isinstance(state, dict):
      self.attributes.update(state)
    else:
      self.attributes["__state__"] = state

  def __repr__(self) -> str:
    return f"<{self.type_name} with {len(self.attributes)} attributes>"


def _rebuild_tensor(storage: _Storage, storage_offset: int, size, stride, *unused: Any) -> Any:
  """numpy version of `torch._utils._rebuild_tensor[_v2]`: a strided view of a storage, copied."""
  if not isinstance(storage, _Storage):
    raise _FormatError(f"tensor rebuilt from {type(storage).__name__}, expected a storage")
  if storage.array is None:
    return None
  flat = storage.array
  size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
  if len(size) != len(stride):
    raise _FormatError(f"tensor size {size} and stride {stride} differ in rank")
  if any(s == 0 for s in size):
    return np.zeros(size, dtype=flat.dtype)
  last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
  if storage_offset < 0 or any(s < 0 for s in stride) or last >= flat.size:
    raise _FormatError(f"tensor (offset {storage_offset}, size {size}, stride {stride}) reaches past "
                       f"its storage of {flat.size} elements (truncated or corrupt)")
  view = np.lib.stride_tricks.as_strided(
      flat[storage_offset:], shape=size, strides=tuple(s * flat.itemsize for s in stride),
      writeable=False)
  return np.array(view, copy=True)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None) -> Any:
  """`_rebuild_tensor_v3`: like v2 on an untyped (byte) storage, with an explicit dtype."""
  del requires_grad, backward_hooks, metadata
  if isinstance(dtype, np.dtype) and storage.array is not None and storage.array.dtype != dtype:
    if storage.array.nbytes % dtype.itemsize:
      raise _FormatError(f"storage of {storage.array.nbytes} bytes is not a whole number of {dtype}")
    storage = _Storage(storage.array.view(dtype))
  return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = None, backward_hooks: Any = None,
                       state: Any = None) -> Any:
  del requires_grad, backward_hooks, state
  return data


def _rebuild_from_type_v2(func: Callable[..., Any], new_type: Any, args: tuple, state: Any) -> Any:
  del new_type, state
  return func(*args)


def _identity(value: Any, *unused: Any) -> Any:
  return value


def _torch_size(*args: Any) -> tuple:
  return tuple(args[0]) if len(args) == 1 and not isinstance(args[0], int) else tuple(args)


def _torch_device(*args: Any) -> str:
  return ":".join(str(a) for a in args)


# (module, name) → local object. Everything else is refused.
_ALLOWED: Dict[tuple, Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): "torch.Tensor",
    ("torch.nn.parameter", "Parameter"): "torch.nn.Parameter",
    ("torch", "Size"): _torch_size,
    ("torch", "device"): _torch_device,
    ("torch.jit._pickle", "restore_type_tag"): _identity,
}
for _kind in ("int", "float", "bool", "double", "tensor"):
  _ALLOWED[("torch.jit._pickle", f"build_{_kind}list")] = list
for _name, _dtype in _STORAGE_DTYPES.items():
  _ALLOWED[("torch", _name)] = _ALLOWED[("torch.cuda", _name)] = _StorageType(_name, _dtype)
for _name, _dtype in _TORCH_DTYPES.items():
  _ALLOWED[("torch", _name)] = _dtype


def _text(value: Any) -> str:
  """Python-2 pickles carry byte strings where Python 3 ones carry str."""
  return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


class _Unpickler(pickle.Unpickler):
  """Resolves only allow-listed names; storages come from `load_storage(key, dtype, numel, view)`."""

  def __init__(self, file, load_storage: Callable[..., _Storage], torchscript: bool = False):
    super().__init__(file, encoding="utf-8")
    self._load_storage = load_storage
    self._torchscript = torchscript

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    if self._torchscript and module.startswith("__torch__"):
      return type(name, (ScriptObject,), {"type_name": f"{module}.{name}"})
    hint = "" if self._torchscript else (
        "; only tensors and containers are read (save `model.state_dict()`, not the model)")
    raise _FormatError(f"unsupported pickled object {module}.{name}{hint}")

  def persistent_load(self, pid: Any) -> _Storage:
    if not (isinstance(pid, tuple) and len(pid) >= 5 and _text(pid[0]) == "storage"):
      kind = _text(pid[0]) if isinstance(pid, tuple) and pid else repr(pid)[:40]
      raise _FormatError(f"unsupported persistent id {kind!r} (only tensor storages are read)")
    storage_type, key, _location, numel = pid[1:5]
    if not isinstance(storage_type, _StorageType):
      raise _FormatError(f"unsupported storage type {storage_type!r}")
    view = pid[5] if len(pid) > 5 else None
    return self._load_storage(_text(key), storage_type.dtype, int(numel), view)


def _frombuffer(raw: bytes, dtype: np.dtype, numel: int, what: str, byteorder: str = "<") -> np.ndarray:
  if len(raw) < numel * dtype.itemsize:
    raise _FormatError(f"{what} has {len(raw)} bytes, expected {numel * dtype.itemsize} (truncated)")
  if byteorder == ">" and dtype == _BFLOAT16:  # ml_dtypes has no big-endian bfloat16
    return np.frombuffer(raw, dtype=">u2", count=numel).astype("=u2").view(dtype)
  array = np.frombuffer(raw, dtype=dtype.newbyteorder(byteorder), count=numel)
  return array.astype(dtype.newbyteorder("="), copy=False)


def _load_zip(archive: zipfile.ZipFile) -> Any:
  names = archive.namelist()
  pickles = sorted(n for n in names if n.endswith("/data.pkl") and n.count("/") == 1)
  if not pickles:
    raise _FormatError("zip file without <folder>/data.pkl, not a PyTorch archive")
  prefix = pickles[0][: -len("data.pkl")]
  torchscript = prefix + "constants.pkl" in names or any(n.startswith(prefix + "code/") for n in names)
  byteorder = "<"
  if prefix + "byteorder" in names:
    order = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
    if order not in ("little", "big"):
      raise _FormatError(f"unknown byteorder record {order!r}")
    byteorder = "<" if order == "little" else ">"
  storages: Dict[str, np.ndarray] = {}

  def load_storage(key: str, dtype: np.dtype, numel: int, view: Any) -> _Storage:
    del view  # zip archives have no storage views
    if key not in storages:
      member = f"{prefix}data/{key}"
      try:
        raw = archive.read(member)
      except KeyError:
        raise _FormatError(f"storage {member} is missing") from None
      storages[key] = _frombuffer(raw, dtype, numel, f"storage {member}", byteorder)
    array = storages[key]
    return _Storage(array if array.dtype == dtype else array.view(dtype))

  with archive.open(prefix + "data.pkl") as f:
    return _Unpickler(f, load_storage, torchscript).load()


def _load_legacy(f: io.BufferedReader) -> Any:
  """The pre-1.6 format: the object pickle is read twice, first to learn its storages, then to build
  tensors from the storages that follow it in the file."""
  header = _Unpickler(f, None)
  if header.load() != _LEGACY_MAGIC:
    raise _FormatError("a pickle, but not a PyTorch file (wrong magic number)")
  protocol = header.load()
  if protocol != _LEGACY_PROTOCOL:
    raise _FormatError(f"unsupported legacy protocol version {protocol!r}")
  header.load()  # sys_info: storages are little endian whatever it says
  start = f.tell()
  found: Dict[str, tuple] = {}

  def record(key: str, dtype: np.dtype, numel: int, view: Any) -> _Storage:
    found.setdefault(key, (dtype, numel))
    return _Storage(None)

  _Unpickler(f, record).load()
  keys = [_text(k) for k in _Unpickler(f, None).load()]
  arrays: Dict[str, np.ndarray] = {}
  for key in keys:
    if key not in found:
      raise _FormatError(f"storage {key} listed but never used")
    dtype, numel = found[key]
    count = struct.unpack("<q", f.read(8) or b"\0" * 8)[0]
    if count != numel:
      raise _FormatError(f"storage {key} records {count} elements, expected {numel} (truncated?)")
    arrays[key] = _frombuffer(f.read(numel * dtype.itemsize), dtype, numel, f"storage {key}")

  def load_storage(key: str, dtype: np.dtype, numel: int, view: Any) -> _Storage:
    if key not in arrays:
      raise _FormatError(f"storage {key} is missing")
    array = arrays[key]
    if view is not None:  # (view_key, offset, size) in elements: torch < 0.4 storage views
      _, offset, size = view
      array = array[int(offset): int(offset) + int(size)]
    return _Storage(array)

  f.seek(start)
  return _Unpickler(f, load_storage).load()


def load_object(path: str | os.PathLike) -> Any:
  """Unpickles a PyTorch file into Python containers, numpy arrays and (TorchScript) `ScriptObject`s.

  Raises FileNotFoundError (missing file) or ValueError (one line naming the file and the cause)."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such file")
  if os.path.isdir(path):
    raise ValueError(f"{path}: is a directory, expected a PyTorch .pth/.pt file")
  try:
    with open(path, "rb") as f:
      head = f.read(4)
      f.seek(0)
      if head.startswith(b"PK"):
        with zipfile.ZipFile(f) as archive:
          return _load_zip(archive)
      if head[:1] == b"\x80":
        return _load_legacy(f)
    raise _FormatError("empty file" if not head else
                       "neither a zip archive nor a legacy torch.save pickle")
  except _FormatError as e:
    raise ValueError(f"{path}: {e}") from None
  except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, pickle.UnpicklingError,
          struct.error) as e:
    raise ValueError(f"{path}: truncated or corrupt file ({type(e).__name__}: {e})") from None
  except (TypeError, AttributeError, IndexError, KeyError, ValueError) as e:
    raise ValueError(f"{path}: unsupported content ({type(e).__name__}: {e})") from None


def flatten_arrays(obj: Any, prefix: str = "") -> Dict[str, np.ndarray]:
  """`{dotted.name: array}` for every numpy array reachable through dicts, lists/tuples and
  `ScriptObject` attributes; other leaves (ints, strings, flags, `_metadata`) are dropped."""
  out: Dict[str, np.ndarray] = {}

  def visit(value: Any, name: str) -> None:
    if isinstance(value, np.ndarray):
      out[name] = value
    elif isinstance(value, ScriptObject):
      visit(value.attributes, name)
    elif isinstance(value, Mapping):
      for key, item in value.items():
        visit(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, (list, tuple)):
      for i, item in enumerate(value):
        visit(item, f"{name}.{i}" if name else str(i))

  visit(obj, prefix)
  return out


def load_state_dict(path: str | os.PathLike) -> Dict[str, np.ndarray]:
  """Reads a PyTorch file into a flat `{dotted.name: np.ndarray}` dict, without torch.

  Accepts a saved state dict (`torch.save(model.state_dict(), path)`, zip or legacy format), a
  checkpoint dict whose weights sit under 'state_dict' or 'model' (unwrapped), or a TorchScript module
  (its parameters and buffers named by attribute path, e.g. `net.layers.conv.weight`). Raises
  FileNotFoundError when the file is missing and ValueError (one line naming the file and the cause)
  when it is unreadable or holds no tensors.
  """
  obj = load_object(path)
  for key in _WRAPPER_KEYS:
    if isinstance(obj, Mapping) and isinstance(obj.get(key), (Mapping, ScriptObject)):
      obj = obj[key]
      break
  arrays = flatten_arrays(obj)
  if not arrays:
    raise ValueError(f"{os.fspath(path)}: no tensors found (top-level object: {type(obj).__name__})")
  return arrays
