"""Fréchet distance between Gaussians fitted to features (FID; Heusel et al. 2017, eq. 6).

    d^2 = |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^{1/2})

Covariances are the unbiased sample covariance (divisor n - 1), as every public FID
implementation uses, so numbers stay comparable with papers.
"""

from __future__ import annotations

import numpy as np


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of features (n, d), in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (n >= 2, d), got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) without a general matrix square root.

    S1 S2 is similar to S1^{1/2} S2 S1^{1/2}, which is symmetric positive semi-definite, so its
    eigenvalues are real and >= 0 up to rounding: a symmetric eigensolver is both exact in
    theory and stable in practice (no complex parts to discard, unlike scipy.linalg.sqrtm).
    """
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """FID from two sets of statistics (e.g. cached real statistics and fresh fake ones)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in dimension: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * _trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)  # rounding can leave a tiny negative for identical sets


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets (n_real, d) and (n_fake, d)."""
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))
