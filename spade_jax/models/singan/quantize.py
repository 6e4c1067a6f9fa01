"""Colour quantization of a painting (official `functions.quant` / `quant2centers` in `paint2image.py`).

The photo at the injection scale is clustered into 5 colours with k-means, on the official raw NCHW
reshape to (-1, 3), so a "sample" is three consecutive same-channel values, not an RGB pixel. The
painting is clustered from those centres (one k-means run started at them) and each value triple is
replaced by the *original* centre of its final label; the result is shrunk to the injection scale.

k-means here is our own (k-means++ seeding with numpy's RandomState(0) as scikit-learn seeds it, then
Lloyd iterations to scikit-learn's default tolerance), so the project does not depend on scikit-learn;
its clusters can differ from a given scikit-learn version's (whose default n_init changed in 1.4).
"""

from __future__ import annotations

import math

import numpy as np

from spade_jax.models.singan.imresize import imresize_np

N_CLUSTERS = 5


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def kmeans_pp(x: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
  """Greedy k-means++ seeding (2 + int(log k) local trials per centre)."""
  n = x.shape[0]
  trials = 2 + int(np.log(k))
  centers = np.empty((k, x.shape[1]), x.dtype)
  centers[0] = x[rng.choice(n, p=np.full(n, 1.0 / n))]
  closest = _sq_dists(centers[:1], x)[0]
  pot = closest.sum()
  for c in range(1, k):
    vals = rng.uniform(size=trials) * pot
    ids = np.clip(np.searchsorted(np.cumsum(closest, dtype=np.float64), vals), None, n - 1)
    d = np.minimum(closest[None], _sq_dists(x[ids], x))
    pots = d.sum(1)
    best = int(np.argmin(pots))
    pot, closest = pots[best], d[best]
    centers[c] = x[ids[best]]
  return centers


def lloyd(x: np.ndarray, centers: np.ndarray, max_iter: int = 300, tol: float = 1e-4):
  """(labels, centres) of Lloyd iterations from `centers` (tolerance relative to the mean variance)."""
  tol = tol * float(np.mean(np.var(x, axis=0)))
  centers = centers.astype(np.float64)
  for _ in range(max_iter):
    labels = np.argmin(_sq_dists(x, centers), axis=1)
    new = np.array([x[labels == j].mean(0) if np.any(labels == j) else centers[j] for j in range(len(centers))])
    shift = float(((new - centers) ** 2).sum())
    centers = new
    if shift <= tol:
      break
  return np.argmin(_sq_dists(x, centers), axis=1), centers


def _triples(x_nhwc: np.ndarray) -> np.ndarray:
  return np.transpose(np.asarray(x_nhwc, np.float64), (0, 3, 1, 2)).reshape(-1, 3)


def _from_triples(t: np.ndarray, like: np.ndarray) -> np.ndarray:
  b, h, w, c = like.shape
  return np.transpose(t.reshape(b, c, h, w), (0, 2, 3, 1)).astype(np.float32)


def quant(real_s: np.ndarray, seed: int = 0):
  """(quantized image, centres) of the photo at the injection scale."""
  x = _triples(real_s)
  x_mean = x.mean(0)
  xc = x - x_mean
  init = kmeans_pp(xc, N_CLUSTERS, np.random.RandomState(seed))
  labels, centers = lloyd(xc, init)
  centers = centers + x_mean
  return _from_triples(centers[labels], real_s), centers.astype(np.float32)


def quant2centers(ref: np.ndarray, centers: np.ndarray) -> np.ndarray:
  x = _triples(ref)
  labels, _ = lloyd(x, np.asarray(centers, np.float64), max_iter=300)
  return _from_triples(np.asarray(centers, np.float64)[labels], ref)


def quantized_injection(layout, real1: np.ndarray, ref: np.ndarray, n: int, seed: int = 0) -> dict:
  """The official quantized `in_s` at scale n (no down/up trip), with its intermediate images."""
  big_n = layout.num_scales - 1
  h, w = layout.shapes[n]
  s = math.pow(layout.scale_factor, big_n - n)
  real_s = imresize_np(real1, s)[:, :h, :w]
  real_quant, centers = quant(real_s, seed)
  ref_quant = quant2centers(ref, centers)
  in_s = imresize_np(ref_quant, s)[:, :h, :w]
  return {"real_s": real_s, "real_quant": real_quant, "centers": centers, "ref_quant": ref_quant, "in_s": in_s}
