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


def square_columns(count: int, columns: int | None = None) -> int:
    """Columns for `count` cells that make the grid closest to square. With `columns` (a pattern:
    one column per class, or the parts of a comparison), a multiple of it, so every column still
    holds one part of the pattern: 64 images of 3 classes make 9 x 8, not 3 x 22."""
    if not columns:
        return max(1, math.ceil(math.sqrt(count)))

    def squareness(k: int) -> float:
        wide, high = columns * k, math.ceil(count / (columns * k))
        return max(wide, high) / min(wide, high)

    return columns * min(range(1, max(1, math.ceil(count / columns)) + 1), key=squareness)


def tile(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """float [-1, 1] NCHW -> one uint8 image (HW or HWC) with the images in rows, padded apart."""
    pixels = to_uint8(images)
    columns = columns or math.ceil(math.sqrt(len(pixels)))
    rows = [pixels[start : start + columns] for start in range(0, len(pixels), columns)]
    return tile_rows(rows, columns=columns, padding=padding, cell_shape=pixels.shape[1:])


LABEL_HEIGHT = 12  # pixels of the header row that names each column


def label_columns(grid: np.ndarray, names: Sequence[str], cell_width: int, padding: int) -> np.ndarray:
    """`grid` with a header row on top naming each column (`names` repeat across the columns),
    white on the grid's background, cut to the cell's width."""
    from PIL import Image, ImageDraw, ImageFont

    header = np.zeros((LABEL_HEIGHT, *grid.shape[1:]), np.uint8)
    image = Image.fromarray(header)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=10)
    white = 255 if grid.ndim == 2 else (255,) * grid.shape[2]
    columns = (grid.shape[1] - padding) // (cell_width + padding)
    for c in range(columns):
        text = str(names[c % len(names)])
        while text and draw.textlength(text, font=font) > cell_width:
            text = text[:-1]
        left = padding + c * (cell_width + padding) + (cell_width - draw.textlength(text, font=font)) / 2
        draw.text((left, 0), text, fill=white, font=font)
    return np.concatenate([np.asarray(image), grid], axis=0)


def grid_png(images: np.ndarray, columns: int | None = None, labels: Sequence[str] | None = None) -> bytes:
    """Images (float [-1, 1] NCHW) as one PNG, close to square (columns a multiple of `columns`
    when given); `labels` name the columns' pattern (class names when image i has class i % classes)
    in a header row. Gray images make a gray PNG."""
    padding = 2
    grid = tile(images, square_columns(len(images), columns), padding)
    if labels:
        grid = label_columns(grid, labels, images.shape[3], padding)
    return encode(grid, "png", png_compress_level=6)
