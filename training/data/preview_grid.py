"""A contact sheet of a dataset: rows of thumbnails in one PNG, so a person sees what was uploaded.

The tiling itself is models/inference/grids.py's (the same as a training run's sample grids);
this module fits each image into a square cell first.
"""

import io

import numpy as np
from PIL import Image, ImageOps

from models.inference.grids import tile_rows
from models.inference.pixels import to_uint8

CELL = 64
GAP = 2
BACKGROUND = (40, 40, 40)


def fit_cell(image: Image.Image, cell: int = CELL) -> np.ndarray:
    """One image fitted into a `cell`-pixel RGB square, centred on the background."""
    thumb = ImageOps.contain(image.convert("RGB"), (cell, cell), Image.Resampling.LANCZOS)
    if max(thumb.size) < cell:  # tiny images (8x8 digits) are scaled up without blurring
        thumb = ImageOps.contain(thumb, (cell, cell), Image.Resampling.NEAREST)
    square = np.full((cell, cell, 3), BACKGROUND, dtype=np.uint8)
    x, y = (cell - thumb.width) // 2, (cell - thumb.height) // 2
    square[y : y + thumb.height, x : x + thumb.width] = np.asarray(thumb)
    return square


def render(rows: list[list[Image.Image]], cell: int = CELL) -> bytes:
    """Each row of images left to right, each fitted into a `cell`-pixel square; PNG bytes."""
    cells = [[fit_cell(image, cell) for image in row] for row in rows if row] or [[]]
    sheet = tile_rows(cells, padding=GAP, background=BACKGROUND, cell_shape=(cell, cell, 3))
    out = io.BytesIO()
    Image.fromarray(sheet).save(out, format="PNG", compress_level=6)
    return out.getvalue()


def from_array(images: np.ndarray) -> Image.Image:
    """One [C, H, W] float image in [-1, 1] -> Pillow."""
    return Image.fromarray(to_uint8(images[None])[0])
