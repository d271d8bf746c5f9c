"""The noise a seed stands for. One definition, so a seed means the same images everywhere:
in a batch or alone, in the result cache's key and in a benchmark."""

import numpy as np


def sample_latents(seed: int, n: int, latent_dim: int, truncation: float | None = None) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((n, latent_dim), dtype=np.float32)
    if truncation is not None:
        # The clipping form of the truncation trick: no resampling, so it stays a pure function of the seed.
        np.clip(z, -truncation, truncation, out=z)
    return z


def expand_labels(labels: list[int] | None, n: int) -> np.ndarray | None:
    """One label for all samples or one per sample -> int64 [n]."""
    if labels is None:
        return None
    if len(labels) == 1:
        return np.full(n, labels[0], dtype=np.int64)
    return np.asarray(labels, dtype=np.int64)


def sample_labels(seed: int, n: int, num_classes: int) -> np.ndarray:
    """Classes for a conditional model when the request names none: random, yet fixed by the seed."""
    return np.random.default_rng([seed, 1]).integers(0, num_classes, n, dtype=np.int64)
