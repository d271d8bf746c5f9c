"""Sample grids: many small generated images tiled into one PNG, for progress at a glance."""

import math

import numpy as np

from models.inference.imaging import encode, to_uint8


def tile(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """float [-1, 1] NCHW -> one uint8 image (HW or HWC) with the images in rows, padded apart."""
    pixels = to_uint8(images)
    n, h, w = pixels.shape[:3]
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    shape = (rows * (h + padding) + padding, columns * (w + padding) + padding, *pixels.shape[3:])
    grid = np.zeros(shape, dtype=np.uint8)
    for index, image in enumerate(pixels):
        top = padding + (index // columns) * (h + padding)
        left = padding + (index % columns) * (w + padding)
        grid[top : top + h, left : left + w] = image
    return grid


def grid_png(images: np.ndarray, columns: int | None = None) -> bytes:
    return encode(tile(images, columns), "png", png_compress_level=6)
