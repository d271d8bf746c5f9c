"""Inception Score from classifier logits (Salimans et al. 2016, sec. 4).

    IS = exp( E_x KL( p(y|x) || p(y) ) )

It lies in [1, number of classes]: high when each sample is classified confidently and the
classes are used evenly. As in the original code, the samples are cut into `splits` parts and
the mean and (population) std of the per-part scores are reported. The samples are shuffled
first (fixed seed): a class-conditional generator emits them class by class, and contiguous
parts of one class each would score ~1. With the project's MNIST classifier this is an
"Inception-Score-style" number, comparable only with itself.
"""

from __future__ import annotations

import numpy as np


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(logits: np.ndarray, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the Inception Score of logits (n, classes) over `splits` random parts."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or len(logits) < splits:
        raise ValueError(f"need logits (n >= splits={splits}, classes), got shape {logits.shape}")
    log_p = _log_softmax(logits)[np.random.default_rng(seed).permutation(len(logits))]
    scores = []
    for part in np.array_split(log_p, splits):
        p = np.exp(part)
        log_marginal = np.log(p.mean(axis=0) + 1e-30)  # guard unused classes: 0 * log 0 = 0
        kl = (p * (part - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
