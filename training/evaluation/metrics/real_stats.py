"""Cache of real-data feature statistics, one .npz per (dataset, extractor, resize mode).

Pushing the whole real set through an extractor costs far more than the metric itself, and the
answer only changes when the dataset, the network or the resizing does, so those three form
the key. Files hold plain arrays and strings (np.load with allow_pickle=False) and are
written to a temporary name and renamed, so a reader never sees half a file even with several
workers filling the same cache.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.evaluation.metrics.extractors import Extractor
from training.evaluation.metrics.frechet import feature_statistics

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class RealStats:
    dataset: str
    extractor: str
    resize_mode: str
    n: int
    mean: np.ndarray
    cov: np.ndarray
    features: np.ndarray | None  # kept for KID and precision/recall, which need samples

    @classmethod
    def from_features(cls, dataset: str, extractor: str, resize_mode: str, features: np.ndarray,
                      keep_features: bool = True) -> RealStats:
        mean, cov = feature_statistics(features)
        kept = np.asarray(features, dtype=np.float32) if keep_features else None
        return cls(dataset, extractor, resize_mode, len(features), mean, cov, kept)


class RealStatsCache:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path_for(self, dataset: str, extractor: str, resize_mode: str) -> Path:
        for part in (dataset, extractor, resize_mode):
            if not _SAFE_NAME.match(part):
                raise ValueError(f"cache key part {part!r} must match {_SAFE_NAME.pattern}")
        return self.directory / f"{dataset}__{extractor}__{resize_mode}.npz"

    def load(self, dataset: str, extractor: str, resize_mode: str) -> RealStats | None:
        path = self.path_for(dataset, extractor, resize_mode)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            stored = (str(z["dataset"]), str(z["extractor"]), str(z["resize_mode"]))
            if stored != (dataset, extractor, resize_mode):
                raise ValueError(f"{path} holds statistics for {stored}, not {(dataset, extractor, resize_mode)}")
            features = z["features"] if "features" in z.files else None
            return RealStats(*stored, int(z["n"]), z["mean"], z["cov"], features)

    def save(self, stats: RealStats) -> Path:
        path = self.path_for(stats.dataset, stats.extractor, stats.resize_mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"dataset": np.str_(stats.dataset), "extractor": np.str_(stats.extractor),
                  "resize_mode": np.str_(stats.resize_mode), "n": np.int64(stats.n),
                  "mean": stats.mean, "cov": stats.cov}
        if stats.features is not None:
            arrays["features"] = stats.features
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def get_or_compute(self, dataset: str, extractor: Extractor, images: Callable[[], np.ndarray],
                       keep_features: bool = True) -> RealStats:
        """Cached statistics, or extract features from `images()` (called only on a miss)."""
        cached = self.load(dataset, extractor.name, extractor.resize_mode)
        if cached is not None and (cached.features is not None or not keep_features):
            return cached
        stats = RealStats.from_features(dataset, extractor.name, extractor.resize_mode,
                                        extractor.features(images()), keep_features)
        self.save(stats)
        return stats
