"""One call that measures generated images against real ones and labels every figure.

A quality number means nothing without the network that produced the features, how many
samples went in and how images were resized, so the report carries them beside the metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.evaluation.metrics.extractors import Extractor
from training.evaluation.metrics.frechet import feature_statistics, frechet_distance
from training.evaluation.metrics.inception_score import inception_score
from training.evaluation.metrics.kernel import (
    kernel_inception_distance,
    proper_subset_size,
)
from training.evaluation.metrics.precision_recall import precision_recall
from training.evaluation.metrics.real_stats import RealStats


def quality_report(real: np.ndarray | RealStats, fake: np.ndarray, extractor: Extractor, *,
                   kid_subsets: int = 100, kid_subset_size: int = 1000, pr_k: int = 3,
                   is_splits: int = 10, seed: int = 0) -> dict[str, Any]:
    """FID, KID, precision/recall and (where the extractor has logits) Inception Score.

    `real` is images (N x C x H x W) or cached RealStats for the same extractor and resize
    mode; `fake` is images. Without cached real features, KID and precision/recall are None.
    KID's subsets are proper subsets of both sets (kernel.proper_subset_size).
    """
    if isinstance(real, RealStats):
        if (real.extractor, real.resize_mode) != (extractor.name, extractor.resize_mode):
            raise ValueError(
                f"real statistics were made with {real.extractor}/{real.resize_mode}, "
                f"not {extractor.name}/{extractor.resize_mode}"
            )
        real_stats = real
    else:
        real_stats = RealStats.from_features("adhoc", extractor.name, extractor.resize_mode,
                                             extractor.features(real))
    fake_features = extractor.features(fake)
    report = report_from_features(real_stats, fake_features, kid_subsets=kid_subsets,
                                  kid_subset_size=kid_subset_size, pr_k=pr_k, seed=seed)
    if extractor.has_logits:
        splits = min(is_splits, len(fake))
        is_mean, is_std = inception_score(extractor.logits(fake), splits=splits, seed=seed)
        report.update(inception_score_mean=is_mean, inception_score_std=is_std, inception_score_splits=splits)
    return report


def report_from_features(real: RealStats, fake_features: np.ndarray, *, kid_subsets: int = 100,
                         kid_subset_size: int = 1000, pr_k: int = 3, seed: int = 0) -> dict[str, Any]:
    """The feature-space metrics, labelled with real's extractor and resize mode."""
    report: dict[str, Any] = {
        "extractor": real.extractor,
        "resize_mode": real.resize_mode,
        "n_real": real.n,
        "n_fake": len(fake_features),
        "fid": frechet_distance(real.mean, real.cov, *feature_statistics(fake_features)),
        "kid_mean": None, "kid_std": None, "kid_subsets": None, "kid_subset_size": None,
        "precision": None, "recall": None, "pr_k": None,
    }
    if real.features is not None:
        size = proper_subset_size(len(real.features), len(fake_features), kid_subset_size)
        kid = kernel_inception_distance(real.features, fake_features, kid_subsets, size, seed)
        precision, recall = precision_recall(real.features, fake_features, pr_k)
        report.update(kid_mean=kid.mean, kid_std=kid.std, kid_subsets=kid.subsets, kid_subset_size=kid.subset_size,
                      precision=precision, recall=recall, pr_k=pr_k)
    return report
