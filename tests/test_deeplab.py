"""DeepLabV2 (the paper's COCO-Stuff segmenter): converter from kazuto1011/deeplab-pytorch state dicts,
forward against a plain numpy reference, the full ResNet-101 model's keys and size, errors."""

import collections
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from spade_jax.evaluate import segmentation as seg_lib
from spade_jax.evaluate.nets.deeplab import DeepLabV2
from spade_jax.evaluate.nets import deeplab_convert as dc
from torch_writer import tensor, write_legacy, write_zip

NC = 5
TINY = (1, 1, 1, 1)
RATES = (6, 12, 18, 24)
MEAN_BGR = np.array([104.008, 116.669, 122.675])
# The original's trainable parameters (conv weights, BN weight/bias, ASPP weight/bias) for
# MSC(DeepLabV2(n_classes=182, n_blocks=[3, 4, 23, 3])): ResNet-101 without fc (42,500,160) + ASPP
# 4 × (2048·182·9 + 182) (13,419,224). BN running mean/var add 105,344 buffer values.
FULL_PARAMS = 55_919_384
FULL_BN_STATS = 105_344


def original_shapes(nc, n_blocks):
  """The original state dict's keys (`base.` stripped) and shapes, written out from its model code."""
  shapes = {}

  def conv_bn_relu(name, cin, cout, k):
    shapes[f"{name}.conv.weight"] = (cout, cin, k, k)
    for leaf in ("weight", "bias", "running_mean", "running_var"):
      shapes[f"{name}.bn.{leaf}"] = (cout,)

  conv_bn_relu("layer1.conv1", 3, 64, 7)
  cin = 64
  for layer, (n, cout) in enumerate(zip(n_blocks, (256, 512, 1024, 2048)), start=2):
    for j in range(1, n + 1):
      conv_bn_relu(f"layer{layer}.block{j}.reduce", cin if j == 1 else cout, cout // 4, 1)
      conv_bn_relu(f"layer{layer}.block{j}.conv3x3", cout // 4, cout // 4, 3)
      conv_bn_relu(f"layer{layer}.block{j}.increase", cout // 4, cout, 1)
      if j == 1:
        conv_bn_relu(f"layer{layer}.block{j}.shortcut", cin, cout, 1)
    cin = cout
  for i in range(4):
    shapes[f"aspp.c{i}.weight"] = (nc, 2048, 3, 3)
    shapes[f"aspp.c{i}.bias"] = (nc,)
  return shapes


def random_state(nc=NC, n_blocks=TINY, seed=0):
  rng = np.random.default_rng(seed)
  state = {}
  for key, shape in original_shapes(nc, n_blocks).items():
    leaf = key.rsplit(".", 1)[1]
    if len(shape) == 4:  # He-normal, so activations stay O(10) through the blocks
      v = rng.normal(0, math.sqrt(2 / np.prod(shape[1:])), shape)
    elif leaf == "running_var":
      v = rng.uniform(0.5, 2.0, shape)
    elif leaf == "weight":
      v = rng.uniform(0.3, 1.0, shape)
    else:
      v = rng.normal(0, 0.3, shape)
    state[key] = v.astype(np.float32)
  return state


def as_torch_file(path, state, prefix="base.", legacy=False, nest=None):
  sd = collections.OrderedDict((prefix + k, tensor(v)) for k, v in state.items())
  for k in list(state):
    if k.endswith(".bn.weight"):  # torch ≥ 0.4.1 BatchNorm buffer, unused when frozen
      sd[prefix + k[:-len("weight")] + "num_batches_tracked"] = tensor(np.array(100, np.int64))
  obj = {nest: sd} if nest else sd
  return str(write_legacy(path, obj) if legacy else write_zip(path, obj))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  state = random_state()
  path = as_torch_file(tmp_path_factory.mktemp("deeplab") / "tiny.pth", state)
  return state, path


# ------------------------------------------------------------------------------------------------
# numpy reference of the original (NCHW, float64, PyTorch's formulas written out).


def np_conv(x, w, b=None, stride=1, pad=0, dil=1):
  n, _, h, wd = x.shape
  o, _, kh, kw = w.shape
  ho = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
  wo = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
  xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  out = np.zeros((n, o, ho, wo))
  for i in range(kh):
    for j in range(kw):
      r, c = i * dil, j * dil
      patch = xp[:, :, r:r + stride * (ho - 1) + 1:stride, c:c + stride * (wo - 1) + 1:stride]
      out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j], optimize=True)  # BLAS
  return out if b is None else out + b[None, :, None, None]


def np_conv_bn(sd, name, x, stride=1, pad=0, dil=1, relu=True):
  y = np_conv(x, sd[f"{name}.conv.weight"].astype(np.float64), stride=stride, pad=pad, dil=dil)
  g, b, m, v = (sd[f"{name}.bn.{k}"].astype(np.float64)[None, :, None, None]
                for k in ("weight", "bias", "running_mean", "running_var"))
  y = (y - m) / np.sqrt(v + 1e-5) * g + b
  return np.maximum(y, 0) if relu else y


def np_max_pool_ceil(x, k=3, s=2, p=1):
  def out_len(n):
    out = math.ceil((n + 2 * p - k) / s) + 1
    return out - 1 if (out - 1) * s >= n + p else out
  n, c, h, w = x.shape
  y = np.empty((n, c, out_len(h), out_len(w)))
  for i in range(y.shape[2]):
    for j in range(y.shape[3]):
      r0, c0 = i * s - p, j * s - p
      y[:, :, i, j] = x[:, :, max(r0, 0):min(r0 + k, h), max(c0, 0):min(c0 + k, w)].max(axis=(2, 3))
  return y


def np_resize(x, oh, ow, scale=None):
  """`F.interpolate(mode="bilinear", align_corners=False)` (with `scale_factor`: source step 1/scale)."""
  def axis(n_in, n_out):
    step = 1 / scale if scale else n_in / n_out
    src = np.maximum((np.arange(n_out) + 0.5) * step - 0.5, 0)
    i0 = src.astype(int)
    return i0, np.where(i0 < n_in - 1, i0 + 1, i0), src - i0
  h0, h1, lh = axis(x.shape[2], oh)
  w0, w1, lw = axis(x.shape[3], ow)
  x = x[:, :, h0] * (1 - lh)[:, None] + x[:, :, h1] * lh[:, None]
  return x[..., w0] * (1 - lw) + x[..., w1] * lw


def np_deeplab(sd, rgb, n_blocks=TINY, rates=RATES, scales=(0.5, 0.75)):
  def base(x):
    h = np_max_pool_ceil(np_conv_bn(sd, "layer1.conv1", x, stride=2, pad=3))
    for layer, (n, stride, dil) in enumerate(zip(n_blocks, (1, 2, 1, 1), (1, 1, 2, 4)), start=2):
      for j in range(1, n + 1):
        p, s = f"layer{layer}.block{j}", stride if j == 1 else 1
        r = np_conv_bn(sd, f"{p}.reduce", h, stride=s)
        r = np_conv_bn(sd, f"{p}.conv3x3", r, pad=dil, dil=dil)
        r = np_conv_bn(sd, f"{p}.increase", r, relu=False)
        h = np.maximum(r + (np_conv_bn(sd, f"{p}.shortcut", h, stride=s, relu=False) if j == 1 else h), 0)
    return sum(np_conv(h, sd[f"aspp.c{i}.weight"].astype(np.float64), sd[f"aspp.c{i}.bias"].astype(np.float64),
                       pad=r, dil=r) for i, r in enumerate(rates))

  x = ((rgb.astype(np.float64) + 1) * 127.5)[..., ::-1] - MEAN_BGR  # RGB [-1, 1] → BGR 0–255 − mean
  x = x.transpose(0, 3, 1, 2)
  h, w = x.shape[2:]
  logits = base(x)
  for s in scales:
    small = base(np_resize(x, math.floor(h * s), math.floor(w * s), scale=s))
    logits = np.maximum(logits, np_resize(small, *logits.shape[2:]))
  return np_resize(logits, h, w).transpose(0, 2, 3, 1)


# ------------------------------------------------------------------------------------------------


def test_loading_is_exact(tiny, tmp_path):
  state, path = tiny
  module, variables = dc.load_deeplabv2(path, n_blocks=TINY)
  assert (module.num_classes, tuple(module.n_blocks), tuple(module.msc_scales)) == (NC, TINY, (0.5, 0.75))
  flat = traverse_util.flatten_dict(variables, sep="/")
  assert len(flat) == len(state)
  w = state["layer2.block1.conv3x3.conv.weight"]  # OIHW → HWIO, element by element
  k = np.asarray(flat["params/base/layer2/block1/conv3x3/conv/kernel"])
  assert k.shape == (3, 3, 64, 64) and k[0, 2, 5, 7] == w[7, 5, 0, 2] and k[2, 1, 3, 1] == w[1, 3, 2, 1]
  for key, value in state.items():
    mod, leaf = key.rsplit(".", 1)
    path_ = mod.replace(".", "/")
    if mod.endswith(".bn"):
      got = flat[{"weight": f"params/base/{path_}/scale", "bias": f"params/base/{path_}/bias",
                  "running_mean": f"batch_stats/base/{path_}/mean",
                  "running_var": f"batch_stats/base/{path_}/var"}[leaf]]
    else:
      got = flat[f"params/base/{path_}/" + ("kernel" if leaf == "weight" else "bias")]
    np.testing.assert_array_equal(got, value.transpose(2, 3, 1, 0) if value.ndim == 4 else value, err_msg=key)
  out = jax.eval_shape(module.apply, variables, jax.ShapeDtypeStruct((2, 33, 36, 3), jnp.float32))
  assert out.shape == (2, 33, 36, NC) and out.dtype == jnp.float32

  # Same variables from an .npz without `base.`, a legacy nested checkpoint, and with n_blocks inferred.
  np.savez(tmp_path / "tiny.npz", **state)
  legacy = as_torch_file(tmp_path / "legacy.pth", state, prefix="module.base.", legacy=True, nest="state_dict")
  for other in (dc.load_deeplabv2(str(tmp_path / "tiny.npz"), n_blocks=TINY),
                dc.load_deeplabv2(legacy, num_classes=NC, n_blocks=None)):
    assert tuple(other[0].n_blocks) == TINY
    jax.tree.map(np.testing.assert_array_equal, other[1], variables)


@pytest.mark.parametrize("scales,hw", [((), (57, 64)), ((0.5, 0.75), (33, 36))])
def test_forward_matches_numpy_reference(tiny, scales, hw):
  """Stem (ceil-mode pooling at odd/even sizes), bottlenecks with stride/dilation, ASPP, multi-scale max,
  bilinear resizing: our module against the numpy transcription of the original."""
  state, path = tiny
  module, variables = dc.load_deeplabv2(path, n_blocks=TINY, msc_scales=scales)
  rgb = np.random.default_rng(1).uniform(-1, 1, (2, *hw, 3)).astype(np.float32)
  got = np.asarray(jax.jit(module.apply)(variables, jnp.asarray(rgb)))
  want = np_deeplab(state, rgb, scales=scales)
  assert got.shape == want.shape == (2, *hw, NC)
  scale = np.abs(want).max()
  assert scale > 1 and np.abs(got - want).max() <= 1e-4 * scale, (np.abs(got - want).max(), scale)


def test_full_model_keys_shapes_and_size():
  """ResNet-101 (3, 4, 23, 3), 182 classes: the module's variables (eval_shape only) are exactly what
  the converter fills from the original's keys, and the parameter count is the original's."""
  module = DeepLabV2(num_classes=182, msc_scales=())
  variables = jax.eval_shape(module.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32))
  got = {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(variables).items()}
  want_torch = original_shapes(182, (3, 4, 23, 3))
  assert dc.torch_state_shapes(182) == want_torch
  want = {dc.torch_key_to_path(k): (s[2], s[3], s[1], s[0]) if len(s) == 4 else s for k, s in want_torch.items()}
  assert got == want
  count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
  assert count(variables["params"]) == FULL_PARAMS
  assert count(variables["batch_stats"]) == FULL_BN_STATS
  assert len(want_torch) == 4 * 2 + 5 * 104  # ASPP weight + bias; 104 conv+BN layers (conv1, 33·3, 4 shortcuts)


def test_errors_name_the_file_and_the_keys(tiny, tmp_path):
  state, _ = tiny
  missing = tmp_path / "nowhere" / dc.CHECKPOINT_NAME
  with pytest.raises(FileNotFoundError, match=f"{missing.name}.*releases/download/v1.0/{dc.CHECKPOINT_NAME}"):
    dc.load_deeplabv2(str(missing))
  bad = dict(state)
  del bad["layer3.block1.shortcut.bn.running_var"]
  bad["aspp.c2.weight"] = np.zeros((NC, 2048, 1, 1), np.float32)
  bad["layer2.block1.extra.weight"] = np.zeros(3, np.float32)
  path = as_torch_file(tmp_path / "bad.pth", bad)
  with pytest.raises(ValueError) as e:
    dc.load_deeplabv2(path, n_blocks=TINY)
  msg = str(e.value)
  assert "bad.pth" in msg and "3 problems" in msg
  assert "missing layer3.block1.shortcut.bn.running_var (512,)" in msg
  assert "aspp.c2.weight: shape (5, 2048, 1, 1), expected (5, 2048, 3, 3)" in msg
  assert "unexpected layer2.block1.extra.weight" in msg
  with pytest.raises(ValueError, match="n_blocks=\\(3, 4, 23, 3\\)"):  # the default is ResNet-101
    dc.load_deeplabv2(tiny[1])


def test_eval_harness_segmenter(tiny, tmp_path):
  """`load_segmenter`: a DeepLabV2 file → argmax of the logits of the uint8-quantised images; a directory
  → our U-Net."""
  state, path = tiny
  predict, meta = seg_lib.load_segmenter(path, n_blocks=TINY)
  assert meta["kind"] == "deeplabv2" and meta["num_classes"] == NC and meta["weights_file"] == path
  assert meta["msc_scales"] == [1.0, 0.5, 0.75] and meta["real_val_miou"] is None
  rgb = np.random.default_rng(2).uniform(-1, 1, (1, 17, 20, 3)).astype(np.float32)
  labels = np.asarray(predict(jnp.asarray(rgb)))
  u8 = np.clip((rgb + 1) / 2 * 255, 0, 255).astype(np.uint8)  # as the saved PNGs
  logits = np_deeplab(state, u8.astype(np.float32) / 127.5 - 1)
  assert labels.shape == (1, 17, 20) and (labels == logits.argmax(-1)).mean() > 0.99

  from spade_jax.evaluate.nets.segmenter import UNetSegmenter
  shapes = jax.eval_shape(UNetSegmenter(3, 4).init, jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
  unet = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), shapes)
  seg_lib.save(str(tmp_path / "unet"), unet, {"num_classes": 3, "width": 4, "real_val_miou": 0.5})
  _, meta = seg_lib.load_segmenter(str(tmp_path / "unet"))
  assert meta["kind"] == "unet" and meta["num_classes"] == 3 and meta["weights_file"].endswith("params.npz")
  with pytest.raises(FileNotFoundError, match=f"missing.pth.*{dc.DOWNLOAD_URL}"):
    seg_lib.load_segmenter(str(tmp_path / "missing.pth"))
