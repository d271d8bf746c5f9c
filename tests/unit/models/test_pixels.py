"""Pixel ranges converted in one place, and grids tiled in one place."""

import numpy as np

from models.inference.grids import tile, tile_rows
from models.inference.pixels import (
    integers_to_signed,
    integers_to_unit,
    max_value,
    signed_to_uint8,
    signed_to_unit,
    to_8bit,
    to_uint8,
    unit_to_integers,
    unit_to_signed,
)


def test_signed_and_unit_are_each_others_inverse_and_unit_is_clipped():
    signed = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32)
    assert signed_to_unit(signed).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert np.array_equal(unit_to_signed(signed_to_unit(signed)), signed)
    assert signed_to_unit(np.array([-3.0, 3.0], np.float32)).tolist() == [0.0, 1.0]
    assert signed_to_unit(signed).dtype == unit_to_signed(signed).dtype == np.float32


def test_integer_pixels_by_bit_depth():
    assert max_value(np.uint8) == 255 and max_value(np.uint16) == 65535
    assert integers_to_unit(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
    assert integers_to_unit(np.array([0, 65535], np.uint16)).tolist() == [0.0, 1.0]
    assert integers_to_signed(np.array([0, 255], np.uint8)).tolist() == [-1.0, 1.0]
    assert unit_to_integers(np.array([-0.1, 0.5, 1.2], np.float32), np.uint16).tolist() == [0, 32768, 65535]
    assert unit_to_integers(np.array([0.5], np.float32), np.uint8).dtype == np.uint8


def test_signed_to_uint8_rounds_to_the_nearest_and_clips():
    assert signed_to_uint8(np.array([-2.0, -1.0, 0.0, 1.0, 2.0], np.float32)).tolist() == [0, 0, 128, 255, 255]
    nchw = np.zeros((2, 3, 4, 5), np.float32)
    assert to_uint8(nchw).shape == (2, 4, 5, 3)
    assert to_uint8(nchw[:, :1]).shape == (2, 4, 5)


def test_sixteen_bits_to_eight_round_to_the_nearest():
    sixteen = np.array([0, 128, 129, 257, 65535], np.uint16)
    assert to_8bit(sixteen).tolist() == [0, 0, 1, 1, 255]
    eight = np.array([3, 200], np.uint8)
    assert to_8bit(eight) is eight


def test_a_grid_is_padded_and_a_short_row_leaves_its_end_blank():
    white = np.full((2, 3), 255, np.uint8)
    grid = tile_rows([[white, white], [white]], padding=1, background=7)
    assert grid.shape == (1 + 2 * 3, 1 + 2 * 4)
    assert grid[1:3, 1:4].min() == 255 and grid[4:6, 1:4].min() == 255
    assert (grid[4:6, 5:8] == 7).all() and (grid[0] == 7).all()


def test_sample_grids_take_the_columns_asked_for():
    images = np.ones((5, 1, 4, 4), np.float32)
    assert tile(images, columns=8, padding=2).shape == (2 + 6, 2 + 8 * 6)
    assert tile(images, padding=2).shape == (2 + 2 * 6, 2 + 3 * 6)
