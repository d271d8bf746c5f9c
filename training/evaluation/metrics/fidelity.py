"""PSNR and SSIM of paired images, the way super-resolution papers report them.

Papers since SRCNN measure on the luma (Y) channel of ITU-R BT.601 YCbCr and crop `scale`
pixels off each border, because the border is where upscalers have no context. SSIM follows
Wang et al. 2004: an 11-tap Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, population
(not sample) covariances, and the mean over positions whose window lies inside the image.
These match scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=...)` and `peak_signal_noise_ratio`.

Images are H x W or H x W x C (C = 1 or 3, RGB), uint8 in [0, 255] or float in [0, data_range].
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

# BT.601 RGB -> Y for RGB in [0, 1], giving Y in [16, 235] on the 8-bit scale.
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
_Y_OFFSET = 16.0

_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): skimage's truncation, an 11 x 11 window
_K1, _K2 = 0.01, 0.03


def _default_range(img: np.ndarray, data_range: float | None) -> float:
    if data_range is not None:
        return float(data_range)
    if img.dtype == np.uint8:
        return 255.0
    raise ValueError("float images need an explicit data_range (1.0 for [0, 1], 255.0 for [0, 255])")


def rgb_to_y(img: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Luma of an RGB image H x W x 3 in [0, data_range], on the same scale (float64)."""
    unit = np.asarray(img, dtype=np.float64) / data_range
    return (unit @ _Y_WEIGHTS + _Y_OFFSET) / 255.0 * data_range


def prepare(img: np.ndarray, crop_border: int = 0, y_channel: bool = True,
            data_range: float | None = None) -> np.ndarray:
    """Float64 image as measured: Y channel of RGB when asked, borders cropped."""
    rng = _default_range(img, data_range)
    out = np.asarray(img, dtype=np.float64)
    if out.ndim == 3 and out.shape[2] == 1:
        out = out[..., 0]
    elif out.ndim == 3 and out.shape[2] == 3 and y_channel:
        out = rgb_to_y(out, rng)
    elif not (out.ndim == 2 or (out.ndim == 3 and out.shape[2] == 3)):
        raise ValueError(f"expected H x W or H x W x {{1, 3}}, got shape {out.shape}")
    if crop_border:
        out = out[crop_border:-crop_border, crop_border:-crop_border]
    return out


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def psnr(img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_channel: bool = True,
         data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; inf for identical images."""
    _check_pair(img1, img2)
    rng = _default_range(img1, data_range)
    a = prepare(img1, crop_border, y_channel, rng)
    b = prepare(img2, crop_border, y_channel, rng)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(rng**2 / mse))


def _gaussian_window() -> np.ndarray:
    x = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / _SSIM_SIGMA) ** 2)
    return w / w.sum()


def _blur(img: np.ndarray) -> np.ndarray:
    """Separable Gaussian with mirrored borders ("reflect" in scipy.ndimage, as skimage uses)."""
    w = _gaussian_window()
    return correlate1d(correlate1d(img, w, axis=0, mode="reflect"), w, axis=1, mode="reflect")


def _ssim_gray(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    mu_a, mu_b = _blur(a), _blur(b)
    var_a = _blur(a * a) - mu_a**2
    var_b = _blur(b * b) - mu_b**2
    cov = _blur(a * b) - mu_a * mu_b
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    r = _SSIM_RADIUS  # only positions whose whole window lies inside the image count
    return float(ssim_map[r:-r, r:-r].mean())


def ssim(img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_channel: bool = True,
         data_range: float | None = None) -> float:
    """Structural similarity in [-1, 1]; RGB without y_channel averages the three channels."""
    _check_pair(img1, img2)
    rng = _default_range(img1, data_range)
    a = prepare(img1, crop_border, y_channel, rng)
    b = prepare(img2, crop_border, y_channel, rng)
    if min(a.shape[:2]) < 2 * _SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs at least 11 x 11 pixels after cropping, got {a.shape[:2]}")
    if a.ndim == 2:
        return _ssim_gray(a, b, rng)
    return float(np.mean([_ssim_gray(a[..., c], b[..., c], rng) for c in range(a.shape[2])]))
