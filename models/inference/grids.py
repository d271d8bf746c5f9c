"""Grids: many small images tiled into one, for progress at a glance (sample grids of a training
run) and for a dataset's contact sheet. Torch-free."""

import math
from collections.abc import Sequence

import numpy as np

from models.inference.imaging import encode
from models.inference.pixels import to_uint8


def tile_rows(rows: Sequence[Sequence[np.ndarray]], *, columns: int | None = None, padding: int = 2,
              background: int | tuple[int, ...] = 0, cell_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Rows of equal-size uint8 cells (HW or HWC) -> one uint8 image with the cells `padding`
    pixels apart on a `background` fill; a short row leaves the rest of its line blank.

    `columns` defaults to the longest row (at least one); `cell_shape` to the first cell's shape
    (it must be given when there is no cell at all)."""
    if cell_shape is None:
        cell_shape = next(cell for row in rows for cell in row).shape
    height, width = cell_shape[:2]
    columns = columns or max((len(row) for row in rows), default=0) or 1
    shape = (len(rows) * (height + padding) + padding, columns * (width + padding) + padding, *cell_shape[2:])
    grid = np.full(shape, background, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            top, left = padding + r * (height + padding), padding + c * (width + padding)
            grid[top : top + height, left : left + width] = cell
    return grid


def tile(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """float [-1, 1] NCHW -> one uint8 image (HW or HWC) with the images in rows, padded apart."""
    pixels = to_uint8(images)
    columns = columns or math.ceil(math.sqrt(len(pixels)))
    rows = [pixels[start : start + columns] for start in range(0, len(pixels), columns)]
    return tile_rows(rows, columns=columns, padding=padding, cell_shape=pixels.shape[1:])


def grid_png(images: np.ndarray, columns: int | None = None) -> bytes:
    return encode(tile(images, columns), "png", png_compress_level=6)
