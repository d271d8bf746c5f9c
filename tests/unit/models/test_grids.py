"""Sample grids: close to square, one column per class kept, class names on top, gray kept gray."""

import io

import numpy as np
from PIL import Image

from models.inference.grids import LABEL_HEIGHT, grid_png, square_columns


def test_columns_make_the_grid_close_to_square_and_keep_the_class_pattern():
    assert square_columns(64) == 8 and square_columns(5) == 3
    assert square_columns(64, 3) == 9  # not a 3 x 22 strip
    assert square_columns(64, 10) == 10 and square_columns(64, 16) == 16 and square_columns(4, 3) == 3
    for count, classes in ((64, 2), (64, 3), (64, 5), (30, 7), (64, 1)):
        columns = square_columns(count, classes)
        rows = -(-count // columns)
        assert columns % classes == 0 and max(columns, rows) <= 2 * min(columns, rows) + classes, (count, classes)


def test_class_names_head_their_columns_and_gray_stays_gray():
    images = np.full((64, 1, 28, 28), -1.0, np.float32)
    plain = Image.open(io.BytesIO(grid_png(images, 3)))
    named = Image.open(io.BytesIO(grid_png(images, 3, ["cat", "dog", "a-very-long-class-name"])))
    assert plain.mode == named.mode == "L"
    assert plain.size == (9 * 30 + 2, 8 * 30 + 2) and named.size == (plain.width, plain.height + LABEL_HEIGHT)
    header = np.asarray(named)[:LABEL_HEIGHT]
    for column in range(9):  # every column has its name, and no name spills into the next column
        left = 2 + column * 30
        assert header[:, left : left + 28].max() > 128
        assert header[:, left + 28 : left + 30].max() < 64  # an antialiased edge at most
    rgb = Image.open(io.BytesIO(grid_png(np.zeros((4, 3, 8, 8), np.float32), 2, ["a", "b"])))
    assert rgb.mode == "RGB"
