"""A contact sheet of a dataset: rows of thumbnails in one PNG, so a person sees what was uploaded."""

import io

import numpy as np
from PIL import Image, ImageOps

CELL = 64
GAP = 2
BACKGROUND = (40, 40, 40)


def render(rows: list[list[Image.Image]], cell: int = CELL) -> bytes:
    """Each row of images left to right, each fitted into a `cell`-pixel square; PNG bytes."""
    rows = [row for row in rows if row] or [[]]
    columns = max(len(row) for row in rows) or 1
    sheet = Image.new("RGB", (columns * (cell + GAP) + GAP, len(rows) * (cell + GAP) + GAP), BACKGROUND)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            thumb = ImageOps.contain(image.convert("RGB"), (cell, cell), Image.Resampling.LANCZOS)
            if max(thumb.size) < cell:  # tiny images (8x8 digits) are scaled up without blurring
                thumb = ImageOps.contain(thumb, (cell, cell), Image.Resampling.NEAREST)
            x = GAP + c * (cell + GAP) + (cell - thumb.width) // 2
            y = GAP + r * (cell + GAP) + (cell - thumb.height) // 2
            sheet.paste(thumb, (x, y))
    out = io.BytesIO()
    sheet.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def from_array(images: np.ndarray) -> Image.Image:
    """One [C, H, W] float image in [-1, 1] -> Pillow."""
    pixels = np.clip((images.transpose(1, 2, 0) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
