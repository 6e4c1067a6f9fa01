"""Model tests: shapes over a config grid, jit + grad, official parameter counts, error messages."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model_utils import load_config, tiny_config
from spade_jax.models.spade.generator import latent_size
from spade_jax.models.spade.model import SPADEModel
from spade_jax.nn.modulation import make_modulation, parse_spade_norm
from spade_jax.nn.norms import parse_norm_string


def n_params(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


# Official counts (NVlabs/SPADE `models/networks/{generator,discriminator,encoder}.py`, measured on the PyTorch modules): G without VAE, D, E.
OFFICIAL_COUNTS = {
    "ade20k": (96_492_483, 5_836_930),
    "coco_stuff": (97_480_899, 5_904_514),
    "cityscapes": (93_048_003, 5_601_410),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_COUNTS))
def test_parameter_counts_match_official(name):
  config = load_config(f"spade/{name}")
  config.model.use_vae = True
  model = SPADEModel(config)
  v = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  g_vae, d, e = n_params(v["G"]["params"]), n_params(v["D"]["params"]), n_params(v["E"]["params"])
  config.model.use_vae = False
  model = SPADEModel(config)
  g = n_params(jax.eval_shape(lambda: model.init(jax.random.key(0)))["G"]["params"])
  assert (g, d) == OFFICIAL_COUNTS[name]
  assert e == 10_463_424  # ConvEncoder at ngf 64, crop 256
  sh, sw = latent_size(config.data.crop_size, config.data.aspect_ratio, config.model.num_upsampling_layers)
  # The VAE stem is a Linear z → 16·ngf·sh·sw instead of a 3×3 conv semantic_nc → 16·ngf.
  fc_conv = 9 * model.semantic_nc * 1024 + 1024
  fc_linear = 256 * 1024 * sh * sw + 1024 * sh * sw
  assert g_vae == g - fc_conv + fc_linear


GRID = [
    {},
    {"model.num_upsampling_layers": "more"},
    {"model.num_upsampling_layers": "most", "data.crop_size": 128},
    {"model.use_vae": True},
    {"data.aspect_ratio": 2.0, "model.num_upsampling_layers": "more", "data.crop_size": 128},
    {"data.contain_dontcare_label": True, "data.no_instance": True},
    {"model.norm_G": "spectralspadeinstance5x5"},
    {"model.norm_G": "spadebatch3x3", "model.norm_D": "spectralsync_batch"},
    {"model.num_D": 3, "model.n_layers_D": 3},
    {"model.no_ganFeat_loss": True, "model.norm_E": "spectralbatch", "model.use_vae": True},
]


@pytest.mark.parametrize("overrides", GRID, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "base")
def test_output_shapes(overrides):
  config = tiny_config(**overrides)
  model = SPADEModel(config)
  b = 2
  h, w = model.image_hw
  v = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  seg = jax.ShapeDtypeStruct((b, h, w, model.semantic_nc), jnp.float32)
  img = jax.ShapeDtypeStruct((b, h, w, 3), jnp.float32)
  fake = jax.eval_shape(lambda v, s, i: model.generate(v, s, image=i, rng=jax.random.key(1))[0], v, seg, img)
  assert fake.shape == (b, h, w, 3)
  pf, pr, _ = jax.eval_shape(lambda v, s, f, r: model.discriminate(v["D"], s, f, r), v, seg, img, img)
  assert len(pf) == len(pr) == config.model.num_D
  size = (h, w)
  intermediate = not config.model.no_ganFeat_loss
  for scale in pf:
    assert len(scale) == (config.model.n_layers_D + 1 if intermediate else 1)
    assert scale[-1].shape[-1] == 1
    # kernel 4, padding 2: stride-2 layers give floor(n/2)+1, stride-1 layers n+1.
    expect, sizes = size, []
    for i in range(config.model.n_layers_D + 1):
      stride = 2 if i < config.model.n_layers_D - 1 else 1
      expect = tuple(n // 2 + 1 if stride == 2 else n + 1 for n in expect)
      sizes.append(expect)
    assert [f.shape[1:3] for f in scale] == (sizes if intermediate else sizes[-1:])
    size = tuple((n + 1) // 2 for n in size)
  if config.model.use_vae:
    (mu, logvar), _ = jax.eval_shape(lambda v, i: model.encode(v["E"], i, train=True), v, img)
    assert mu.shape == logvar.shape == (b, config.model.z_dim)


def test_cityscapes_shapes_match_spec():
  config = load_config("spade/cityscapes")
  model = SPADEModel(config)
  assert model.image_hw == (256, 512)
  assert latent_size(512, 2.0, "more") == (4, 8)
  v = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  seg = jax.ShapeDtypeStruct((1, 256, 512, 36), jnp.float32)
  img = jax.ShapeDtypeStruct((1, 256, 512, 3), jnp.float32)
  pf, _, _ = jax.eval_shape(lambda v, s, f, r: model.discriminate(v["D"], s, f, r), v, seg, img, img)
  assert [p[-1].shape[1:3] for p in pf] == [(35, 67), (19, 35)]


@pytest.fixture(scope="module")
def vae_model():
  """One tiny VAE model for the compiled tests (XLA:CPU compiles the ~100 initialisers in ~25 s)."""
  config = tiny_config(**{"model.use_vae": True, "data.crop_size": 32})
  model = SPADEModel(config)
  return model, jax.jit(model.init)(jax.random.key(0))


def test_jit_and_grad_of_generator_discriminator_encoder(vae_model):
  model, v = vae_model
  k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
  label = jax.random.randint(k1, (2, 32, 32), 0, 5)
  batch = {"label": label, "instance": label, "image": jax.random.uniform(k2, (2, 32, 32, 3), minval=-1, maxval=1)}

  def losses(v):
    seg = model.semantics(batch)
    fake, stats, extras = model.generate(v, seg, image=batch["image"], rng=k3, train=True)
    pf, pr, _ = model.discriminate(v["D"], seg, fake, batch["image"])
    return -jnp.mean(pf[-1][-1]) + jnp.sum(extras["mu"] ** 2), (fake, stats)

  (loss, (fake, stats)), grads = jax.jit(jax.value_and_grad(losses, has_aux=True))(v)
  assert np.isfinite(float(loss))
  assert fake.shape == (2, 32, 32, 3) and float(jnp.max(jnp.abs(fake))) <= 1.0
  g_norm = {k: float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree_util.tree_leaves(grads[k]["params"]))))
            for k in grads}
  assert set(g_norm) == {"G", "D", "E"}
  assert all(np.isfinite(n) and n > 0 for n in g_norm.values()), g_norm
  # train-mode forwards advanced BN running stats and spectral-norm vectors
  before = v["G"]["batch_stats"]["head_0"]["norm_0"]["param_free_norm"]["mean"]
  after = stats["G"]["head_0"]["norm_0"]["param_free_norm"]["mean"]
  assert not np.allclose(before, after)
  assert not np.allclose(v["E"]["batch_stats"]["layer1"]["conv"]["u"], stats["E"]["layer1"]["conv"]["u"])


def test_generator_multimodal_and_deterministic(vae_model):
  model, v = vae_model
  seg = jax.nn.one_hot(jnp.zeros((1, 32, 32), jnp.int32), model.semantic_nc)
  gen = jax.jit(lambda v, s, r: model.generate(v, s, rng=r)[0])
  a, a2, b = gen(v, seg, jax.random.key(1)), gen(v, seg, jax.random.key(1)), gen(v, seg, jax.random.key(2))
  np.testing.assert_array_equal(a, a2)
  assert float(jnp.max(jnp.abs(a - b))) > 0
  with pytest.raises(ValueError, match="needs `rng`"):
    model.generate(v, seg)


@pytest.mark.parametrize("text,expected", [
    ("spectralspadesyncbatch3x3", (True, "syncbatch", 3)),
    ("spadeinstance5x5", (False, "instance", 5)),
    ("spectralspadebatch3x3", (True, "batch", 3)),
])
def test_parse_spade_norm(text, expected):
  assert parse_spade_norm(text) == expected


@pytest.mark.parametrize("text,match", [
    ("spectralinstance", "not a SPADE norm string"),
    ("spadefoo3x3", "unknown parameter-free norm 'foo'"),
])
def test_parse_spade_norm_errors(text, match):
  with pytest.raises(ValueError, match=match):
    parse_spade_norm(text)


def test_parse_norm_string():
  assert parse_norm_string("spectralinstance") == (True, "instance")
  assert parse_norm_string("spectralsync_batch") == (True, "syncbatch")
  assert parse_norm_string("instance") == (False, "instance")
  assert parse_norm_string("spectral") == (True, "none")
  with pytest.raises(ValueError, match="unknown norm string 'spectralfoo'"):
    parse_norm_string("spectralfoo")


def test_unknown_modulation_is_refused():
  c = tiny_config(**{"model.norm": "nope"})
  with pytest.raises(ValueError, match="model.norm='nope' is not a known modulation"):
    make_modulation(c.model)


def test_bad_sizes_are_refused():
  with pytest.raises(ValueError, match="crop_size must be at least 32"):
    latent_size(16, 1.0, "normal")
  with pytest.raises(ValueError, match="gives a 0x1 latent"):
    latent_size(64, 2.0, "more")
  with pytest.raises(ValueError, match="num_upsampling_layers='many'"):
    latent_size(256, 1.0, "many")


def test_plain_modulation_skeleton_runs():
  """The interface: another modulation plugs into the same generator without touching it."""
  config = tiny_config(**{"model.norm": "plain", "data.crop_size": 32})
  model = SPADEModel(config)
  v = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  names = set(v["G"]["params"]["head_0"]["norm_0"]) if "norm_0" in v["G"]["params"]["head_0"] else set()
  assert "mlp_shared" not in names
