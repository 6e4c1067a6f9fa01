"""A PRNG that compiles fast, for weight initialisation only.

XLA:CPU compiles each threefry draw into a large unrolled program: initialising the ~250 tensors of
a SPADE model (kernels, spectral-norm vectors, Flax's per-module key derivation) took minutes of
compile time on a laptop CPU, longer than a short training run. Initialisation only needs
well-mixed bits, not a cryptographic generator, so `create_train_state` draws the initial weights
from this counter-based generator instead: every bit is a hash of (key, counter) by the `lowbias32`
integer hash (C. Wellons' hash-prospector: two multiply-xorshift rounds, full avalanche), applied
twice with the two key words. A few elementwise ops per draw, any shape.

Distributions (xavier / normal / uniform initialisers) are unchanged; the weights differ from a
threefry initialisation with the same seed. Training randomness (VAE noise, step keys) stays
threefry.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import random as jex_random

_GOLDEN = np.uint32(0x9E3779B9)


def _hash(x: jax.Array) -> jax.Array:
  x = x.astype(jnp.uint32)
  x = x ^ (x >> 16)
  x = x * np.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * np.uint32(0x846CA68B)
  return x ^ (x >> 16)


def _mix(k0, k1, counter):
  return _hash(_hash(counter * _GOLDEN + k0) ^ k1)


def _seed(seed: jax.Array) -> jax.Array:
  s = jnp.asarray(seed).astype(jnp.uint32)
  return jnp.stack([_hash(s ^ np.uint32(0x85EBCA6B)), _hash(s + _GOLDEN)])


def _split(key: jax.Array, shape) -> jax.Array:
  n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
  i = jnp.arange(n, dtype=jnp.uint32)
  a = _mix(key[0], key[1], 2 * i + 1)
  b = _mix(key[1], key[0], 2 * i + 2)
  return jnp.stack([a, b], axis=-1).reshape(tuple(shape) + (2,))


def _fold_in(key: jax.Array, data) -> jax.Array:
  d = jnp.asarray(data).astype(jnp.uint32)
  return jnp.stack([_mix(key[0], key[1], _hash(d) ^ np.uint32(0xC2B2AE35)),
                    _mix(key[1], key[0], _hash(d + _GOLDEN))])


def _random_bits(key: jax.Array, bit_width: int, shape) -> jax.Array:
  n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
  words = 2 if bit_width == 64 else 1
  i = jnp.arange(n * words, dtype=jnp.uint32)
  bits = _mix(key[0], key[1], i)
  if bit_width == 64:
    bits = bits.reshape(n, 2).astype(jnp.uint64)
    bits = (bits[:, 0] << 32) | bits[:, 1]
    return bits.reshape(shape)
  dtype = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32}[bit_width]
  return bits.reshape(shape).astype(dtype)


FAST_INIT_PRNG = jex_random.define_prng_impl(key_shape=(2,), seed=_seed, split=_split,
                                              random_bits=_random_bits, fold_in=_fold_in,
                                              name="spade_jax_lowbias32", tag="lb32")


def init_key(raw_key: jax.Array) -> jax.Array:
  """A typed key of the fast generator from raw uint32[2] key data (e.g. a threefry key)."""
  return jax.random.wrap_key_data(jnp.asarray(raw_key, jnp.uint32), impl=FAST_INIT_PRNG)
