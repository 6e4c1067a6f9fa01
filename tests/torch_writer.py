"""A minimal writer of PyTorch's file formats for tests (torch is not needed).

Mimics `torch.save` (zip and legacy layouts) and `torch.jit.save` module objects, so tests can produce
`.pth` files of weights they generate.
"""

import collections
import io
import itertools
import pickle
import struct
import zipfile

import ml_dtypes
import numpy as np

# numpy dtype → torch storage class name.
_STORAGE_NAMES = {
    np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
    np.dtype(np.int32): "IntStorage", np.dtype(np.uint8): "ByteStorage",
    np.dtype(np.bool_): "BoolStorage", np.dtype(ml_dtypes.bfloat16): "BFloat16Storage",
}


# ------------------------------------------------------------------------------------------------
# A minimal writer of the torch formats.


class _Global:
  """Pickled as the opcode `GLOBAL module name`, whatever is importable here."""

  def __init__(self, module, name):
    self.module, self.name = module, name

  def __call__(self, *args):  # pickle insists that a reduce function be callable
    raise NotImplementedError


class _Storage:
  def __init__(self, key, data: np.ndarray):
    self.key, self.data = key, data


class _Tensor:
  """Pickled like a torch tensor: `_rebuild_tensor_v2(storage, offset, size, stride, False, {})`."""

  def __init__(self, storage, offset, size, stride, parameter=False):
    self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
    self.parameter = parameter

  def __reduce_ex__(self, protocol):
    tensor = (_Global("torch._utils", "_rebuild_tensor_v2"), self.args)
    if self.parameter:  # nn.Parameter wraps the tensor
      return _Global("torch._utils", "_rebuild_parameter"), (_Reduced(*tensor), True,
                                                            collections.OrderedDict())
    return tensor


class _Reduced:
  def __init__(self, func, args):
    self.func, self.args = func, args

  def __reduce_ex__(self, protocol):
    return self.func, self.args


class _ScriptModule:
  """Pickled like a TorchScript module: `GLOBAL __torch__.<module> <Class>`, `()`, REDUCE, BUILD."""

  def __init__(self, qualname, attributes):
    self.qualname, self.attributes = qualname, attributes

  def __reduce_ex__(self, protocol):
    module, name = self.qualname.rsplit(".", 1)
    return _Global(module, name), (), self.attributes


class _Pickler(pickle._Pickler):  # the pure-Python pickler lets us add a dispatch entry
  dispatch = dict(pickle._Pickler.dispatch)
  dispatch[_Global] = lambda self, obj: self.write(
      pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

  def __init__(self, file, legacy=False):
    super().__init__(file, protocol=2)
    self.legacy = legacy
    self.storages = {}

  def persistent_id(self, obj):
    if not isinstance(obj, _Storage):
      return None
    self.storages[obj.key] = obj
    pid = ("storage", _Global("torch", _STORAGE_NAMES[obj.data.dtype]), obj.key, "cpu", obj.data.size)
    return pid + (None,) if self.legacy else pid


_KEYS = itertools.count()


def tensor(array, parameter=False):
  """A `_Tensor` with its own contiguous storage."""
  array = np.asarray(array)
  key = str(next(_KEYS))
  strides = tuple(s // array.itemsize for s in array.strides) if array.size else (1,) * array.ndim
  return _Tensor(_Storage(key, np.ascontiguousarray(array).ravel()), 0, array.shape, strides, parameter)


def _dump(obj, legacy=False):
  buf = io.BytesIO()
  pickler = _Pickler(buf, legacy)
  pickler.dump(obj)
  return buf.getvalue(), pickler.storages


def write_zip(path, obj, prefix="archive", extra=None, byteorder="little"):
  """`torch.save`'s zip layout: <prefix>/data.pkl, <prefix>/data/<key>, version, byteorder."""
  data, storages = _dump(obj)
  with zipfile.ZipFile(path, "w") as z:
    z.writestr(f"{prefix}/data.pkl", data)
    z.writestr(f"{prefix}/byteorder", byteorder)
    for key, storage in storages.items():
      raw = (storage.data if byteorder == "little" else storage.data.byteswap()).tobytes()
      z.writestr(f"{prefix}/data/{key}", raw)
    z.writestr(f"{prefix}/version", "3\n")
    for name, content in (extra or {}).items():
      z.writestr(f"{prefix}/{name}", content)
  return path


def write_legacy(path, obj):
  """`torch.save`'s pre-1.6 layout: magic, protocol, sys_info, object, storage keys, storages."""
  data, storages = _dump(obj, legacy=True)
  with open(path, "wb") as f:
    for header in (0x1950A86A20F9469CFC6C, 1001,
                   {"protocol_version": 1001, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
      pickle.dump(header, f, protocol=2)
    f.write(data)
    keys = sorted(storages)
    pickle.dump(keys, f, protocol=2)
    for key in keys:
      f.write(struct.pack("<q", storages[key].data.size) + storages[key].data.tobytes())
  return path
