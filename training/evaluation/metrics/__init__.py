"""Quality metrics for generators.

Read in this order: extractors (images -> features), frechet (FID), kernel (KID),
inception_score (IS), precision_recall, fidelity (PSNR/SSIM of paired images), real_stats (the
cache of real-data statistics), report (all of it, labelled). mnist_net and
train_mnist_classifier hold the project's own digit classifier; fetch_inception the optional
download of the InceptionV3 file.
"""

from training.evaluation.metrics.extractors import (
    Extractor,
    InceptionExtractor,
    MnistExtractor,
    build_extractor,
)
from training.evaluation.metrics.fidelity import psnr, ssim
from training.evaluation.metrics.frechet import fid_from_features, frechet_distance
from training.evaluation.metrics.inception_score import inception_score
from training.evaluation.metrics.kernel import kernel_inception_distance
from training.evaluation.metrics.precision_recall import precision_recall
from training.evaluation.metrics.real_stats import RealStats, RealStatsCache
from training.evaluation.metrics.report import quality_report

__all__ = [
    "Extractor", "InceptionExtractor", "MnistExtractor", "RealStats", "RealStatsCache", "build_extractor",
    "fid_from_features", "frechet_distance", "inception_score", "kernel_inception_distance",
    "precision_recall", "psnr", "quality_report", "ssim",
]
