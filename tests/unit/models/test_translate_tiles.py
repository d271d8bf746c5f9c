"""Translators at any size: a U-Net (1x1 bottleneck at its training size) runs in overlapping
tiles of that size blended without seams, a ResNet runs whole, and `scale` brings content to the
training scale and back."""

import numpy as np
import pytest

from models.inference.imaging import DecodedImage
from models.inference.translate import (
    needs_tiles,
    run_network,
    run_tiled,
    shorter_side_size,
    translate_pixels,
)


def tile_mean(batch: np.ndarray) -> np.ndarray:
    """A stand-in for a network with a global bottleneck: every pixel becomes its tile's mean."""
    return np.broadcast_to(batch.mean(axis=(1, 2, 3), keepdims=True), batch.shape).copy()


def test_only_a_network_whose_bottleneck_is_1x1_at_its_training_size_is_tiled():
    assert needs_tiles(32, 32) and needs_tiles(256, 256)
    assert not needs_tiles(4, 32) and not needs_tiles(4, 256)  # the ResNet's stride is 4


@pytest.mark.parametrize("height,width", [(32, 100), (77, 45), (200, 33), (31, 31)])
def test_a_pixelwise_network_gives_the_same_output_tiled_as_whole(height, width):
    batch = np.random.default_rng(0).uniform(-1, 1, (1, 3, height, width)).astype(np.float32)
    tiled, _ = run_tiled(lambda x: np.tanh(2 * x), batch, 32)
    np.testing.assert_allclose(tiled, np.tanh(2 * batch), atol=1e-5)  # the windows sum to one everywhere


def test_tiles_blend_without_seams():
    # A smooth ramp through a tile-mean network: neighbouring output pixels never jump, unlike
    # tiles put side by side, where the step at each tile border is the ramp's slope times 32.
    ramp = np.tile(np.linspace(-1, 1, 256, dtype=np.float32), (1, 1, 32, 1))
    tiled, count = run_tiled(tile_mean, ramp, 32)
    steps = np.abs(np.diff(tiled[0, 0, 16]))
    slope = 2 / 255
    assert count == 17 and steps.max() < 3 * slope  # side by side: a step of 32 * slope at every border


def test_a_resnet_runs_once_over_the_whole_picture_and_a_unet_in_tiles():
    seen = []

    def network(batch):
        seen.append(batch.shape)
        return batch

    batch = np.zeros((1, 1, 40, 90), np.float32)
    run_network(network, batch, size_multiple=4, image_size=32)
    assert seen == [(1, 1, 40, 92)]
    seen.clear()
    _, how = run_network(network, batch, size_multiple=32, image_size=32)
    assert how == {"network_size": (32, 32), "tiles": 4 * 7} and {s[1:] for s in seen} == {(1, 32, 32)}


def test_scale_brings_the_shorter_side_to_the_training_size_and_the_output_back():
    assert shorter_side_size(768, 96, 32) == (256, 32) and shorter_side_size(20, 50, 32) == (32, 80)
    sizes = []

    def network(batch):
        sizes.append(batch.shape[2:])
        return -batch  # a negative, so the test sees the network ran

    strip = np.repeat(np.repeat(np.random.default_rng(2).integers(0, 256, (32, 64, 1), np.uint8), 3, 0), 3, 1)
    out, _, how = translate_pixels(network, DecodedImage(strip, None), channels_in=1, size_multiple=32,
                                   image_size=32, resize="scale")
    assert how["scaled_to"] == (64, 32) and out.shape == (96, 192) and set(sizes) == {(32, 32)}
    # A nearest-neighbour zoom by 3 comes back to its own pixels (area shrink), inverted.
    assert np.abs(out[1::3, 1::3].astype(int) - (255 - strip[1::3, 1::3, 0].astype(int))).mean() < 12


def test_an_unknown_resize_is_refused():
    with pytest.raises(ValueError):
        translate_pixels(lambda x: x, DecodedImage(np.zeros((4, 4, 1), np.uint8), None), channels_in=1,
                         size_multiple=4, image_size=32, resize="keep")
