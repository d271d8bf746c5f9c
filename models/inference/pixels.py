"""Pixel ranges, converted in one place.

Three ranges meet in this project:
- "signed": float [-1, 1], what GAN generators and translators take and give (tanh outputs);
- "unit": float [0, 1], what super-resolution networks and the quality metrics take;
- integers: uint8, or uint16 for 16-bit sources, what images decode to and encode from.
Every conversion between them is here, so rounding and clipping are decided once.
"""

import numpy as np


def max_value(dtype) -> int:
    """The white of an integer pixel type: 65535 for uint16, 255 for uint8."""
    return 65535 if np.dtype(dtype) == np.uint16 else 255


def signed_to_unit(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> float32 [0, 1], clipped."""
    return np.clip((images + 1.0) / 2.0, 0.0, 1.0).astype(np.float32, copy=False)


def unit_to_signed(images: np.ndarray) -> np.ndarray:
    """float [0, 1] -> float32 [-1, 1]."""
    return (images * 2.0 - 1.0).astype(np.float32, copy=False)


def integers_to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 or uint16 pixels -> float32 [0, 1], whatever their bit depth."""
    return pixels.astype(np.float32) / max_value(pixels.dtype)


def unit_to_integers(images: np.ndarray, dtype) -> np.ndarray:
    """float [0, 1] -> `dtype` (uint8 or uint16) pixels, clipped and rounded to the nearest."""
    return np.rint(np.clip(images, 0.0, 1.0) * max_value(dtype)).astype(dtype)


def integers_to_signed(pixels: np.ndarray) -> np.ndarray:
    """uint8 or uint16 pixels -> float32 [-1, 1] (0 -> -1, white -> 1)."""
    return pixels.astype(np.float32) / (max_value(pixels.dtype) / 2) - 1.0


def signed_to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8, rounded to the nearest, in the same layout."""
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] NCHW -> uint8 NHWC (N, H, W) for one channel: what encoders take."""
    scaled = signed_to_uint8(images).transpose(0, 2, 3, 1)
    return scaled[..., 0] if scaled.shape[-1] == 1 else scaled


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """uint16 pixels -> uint8, rounded to the nearest (65535 / 255 = 257 exactly, so never a tie);
    uint8 pixels as they are."""
    if pixels.dtype != np.uint16:
        return pixels
    return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
