"""Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall
Metric for Assessing Generative Models", sec. 2).

Each set's manifold is approximated by the union of balls around its samples, each ball's
radius being the distance to the sample's k-th nearest neighbour within its own set (k = 3 in
the paper). Precision is the fraction of fake samples inside the real manifold (are samples
realistic?); recall the fraction of real samples inside the fake manifold (is the variety
covered?). Distances are computed in row blocks so memory stays O(block * n).
"""

from __future__ import annotations

import numpy as np

_BLOCK = 1024


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)
    return np.maximum(d, 0)  # expansion can go slightly negative by rounding


def knn_radii(features: np.ndarray, k: int = 3) -> np.ndarray:
    """Squared distance from each sample to its k-th nearest other sample."""
    if not 1 <= k < len(features):
        raise ValueError(f"k={k} needs more than k samples, got {len(features)}")
    radii = []
    for start in range(0, len(features), _BLOCK):
        d = _sq_distances(features[start:start + _BLOCK], features)
        # index 0 of the sorted row is the sample itself (distance 0), so the k-th neighbour is at k
        radii.append(np.partition(d, k, axis=1)[:, k])
    return np.concatenate(radii)


def manifold_coverage(reference: np.ndarray, radii: np.ndarray, query: np.ndarray) -> float:
    """Fraction of query samples within at least one reference ball."""
    inside = [
        (_sq_distances(query[start:start + _BLOCK], reference) <= radii[None, :]).any(axis=1)
        for start in range(0, len(query), _BLOCK)
    ]
    return float(np.concatenate(inside).mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of fake features against real features, both (n, d)."""
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    precision = manifold_coverage(real, knn_radii(real, k), fake)
    recall = manifold_coverage(fake, knn_radii(fake, k), real)
    return precision, recall
