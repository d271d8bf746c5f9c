"""Image-to-image translation around the network: channels, scale, tiles, reflect padding, alpha.

The input image is converted to the channels the direction takes (gray <-> RGB), brought to the
scale the model was trained at (`resize`), run through `run` (ONNX Runtime in the worker) and
put back at the size asked for. Free of torch and ONNX Runtime.

How the network runs depends on whether it is fully convolutional in a valid way:
- a network whose downsampling reduces its training size to a 1x1 bottleneck (the pix2pix U-Net:
  `size_multiple >= image_size`) has learned what a whole training-size picture looks like at
  its bottleneck; run on a larger picture, that bottleneck sees several "pictures" at once and the
  output turns to noise. It runs in overlapping tiles of its training size, blended with a
  raised-cosine window whose overlapping copies sum to one, so no seam shows;
- a network without a global bottleneck (the CycleGAN ResNet, receptive field a few dozen
  pixels) is valid at any size: it runs once over the whole picture, padded by reflection to its
  size multiple and cropped back.

`resize` (what the API accepts):
- `scale` (default): the shorter side is scaled to the training size (content at the scale the
  model learned), translated, and the output scaled back to the input's size;
- `none`: the input's own pixels at their own scale (tiled or whole as above);
- `fit`: the longer side is scaled to the training size; the output keeps that fitted size.

Alpha never goes through the network: it is carried through unchanged (resized with the image
when `resize` is `fit`) and put back on the output, except in JPEG, which has no alpha channel.
"""

import math

import numpy as np
from PIL import Image

from models.inference.imaging import DecodedImage
from models.inference.pixels import (
    integers_to_unit,
    signed_to_unit,
    to_8bit,
    unit_to_integers,
    unit_to_signed,
)

MIN_NETWORK_SIDE = 16  # the ResNet's bottleneck stays at least 4x4 (its reflection pads need 2)
TILES_PER_RUN = 32  # tiles batched into one network run: bounded memory on large inputs
RESIZE_MODES = ("scale", "none", "fit")
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's "L"


def convert_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """H x W x C -> H x W x `channels`: gray repeated to RGB, RGB to luma."""
    have = pixels.shape[2]
    if have == channels:
        return pixels
    if channels == 3:
        return np.repeat(pixels, 3, axis=2)
    return (pixels @ _LUMA)[..., None].astype(np.float32)


def fit_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `side`, keeping the aspect ratio."""
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def shorter_side_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) scaled so the shorter side is `side`, keeping the aspect ratio."""
    scale = side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One float32 H x W plane resized to size = (w, h): area averaging when shrinking (an
    integer factor gives back exactly the pixels a nearest-neighbour zoom repeated), bicubic when
    enlarging."""
    shrinking = size[0] * size[1] < plane.shape[0] * plane.shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize(size, method))


def resize_image(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    planes = [resize_plane(pixels[..., c], size) for c in range(pixels.shape[2])]
    return np.clip(np.stack(planes, axis=2), 0.0, 1.0)


def padded_side(side: int, multiple: int, minimum: int = MIN_NETWORK_SIDE) -> int:
    """The smallest multiple of `multiple` that holds `side` and is at least `minimum`."""
    return multiple * math.ceil(max(side, minimum) / multiple)


def pad_reflect(batch: np.ndarray, multiple: int, minimum: int = MIN_NETWORK_SIDE) -> tuple[np.ndarray, tuple[slice, slice]]:
    """N x C x H x W -> padded by reflection, centred, to sides the network takes; and the
    (rows, cols) slices that crop the network's output back to H x W."""
    height, width = batch.shape[2:]
    pad_h, pad_w = padded_side(height, multiple, minimum) - height, padded_side(width, multiple, minimum) - width
    top, left = pad_h // 2, pad_w // 2
    padded = np.pad(batch, ((0, 0), (0, 0), (top, pad_h - top), (left, pad_w - left)), mode="reflect")
    return np.ascontiguousarray(padded), (slice(top, top + height), slice(left, left + width))


def needs_tiles(size_multiple: int, image_size: int) -> bool:
    """True for a network whose bottleneck is 1x1 at its training size (the U-Net): valid only
    on pictures of that size, so larger ones go through in tiles."""
    return size_multiple >= image_size


def _axis_plan(length: int, tile: int) -> tuple[int, int, list[int], np.ndarray]:
    """For one axis: (pad before, pad after, tile offsets in the padded axis, window of one tile).

    An axis no longer than a tile is padded (centred) to one tile with a flat window. A longer one
    is padded by half a tile on both sides (and up to a whole number of half tiles) and covered by
    tiles every half tile; the window sin^2(pi (i + 1/2) / tile) of a tile and of its neighbour
    half a tile on sum to exactly one, so every input pixel is a blend weighted to one."""
    if length <= tile:
        before = (tile - length) // 2
        return before, tile - length - before, [0], np.ones(tile, np.float32)
    half = tile // 2
    padded = half * math.ceil(length / half) + tile
    offsets = list(range(0, padded - tile + 1, half))
    window = np.sin(np.pi * (np.arange(tile) + 0.5) / tile).astype(np.float32) ** 2
    return half, padded - length - half, offsets, window


def run_tiled(run, batch: np.ndarray, tile: int) -> tuple[np.ndarray, int]:
    """1 x C x H x W -> the network's 1 x C' x H x W output from overlapping `tile`-square tiles,
    blended without seams; and the number of tiles."""
    height, width = batch.shape[2:]
    top, bottom, rows, row_window = _axis_plan(height, tile)
    left, right, cols, col_window = _axis_plan(width, tile)
    padded = np.pad(batch, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="reflect")
    window = row_window[:, None] * col_window[None, :]
    corners = [(r, c) for r in rows for c in cols]
    total = weights = None
    for start in range(0, len(corners), TILES_PER_RUN):
        chunk = corners[start : start + TILES_PER_RUN]
        tiles = np.ascontiguousarray(np.concatenate([padded[:, :, r : r + tile, c : c + tile] for r, c in chunk]))
        out = run(tiles)
        if total is None:
            total = np.zeros((out.shape[1], *padded.shape[2:]), np.float32)
            weights = np.zeros(padded.shape[2:], np.float32)
        for (r, c), piece in zip(chunk, out, strict=True):
            total[:, r : r + tile, c : c + tile] += piece * window
            weights[r : r + tile, c : c + tile] += window
    blended = total[:, top : top + height, left : left + width] / weights[top : top + height, left : left + width]
    return blended[None], len(corners)


def run_network(run, batch: np.ndarray, *, size_multiple: int, image_size: int) -> tuple[np.ndarray, dict]:
    """1 x C x H x W in [-1, 1] -> the network's output at H x W, run whole or in tiles as the
    network allows; and how it ran (`network_size` (w, h) of one run, `tiles`)."""
    height, width = batch.shape[2:]
    tile = padded_side(image_size, size_multiple)
    if needs_tiles(size_multiple, image_size) and (height > tile or width > tile):
        output, count = run_tiled(run, batch, tile)
        return output, {"network_size": (tile, tile), "tiles": count}
    padded, (rows, cols) = pad_reflect(batch, size_multiple)
    return run(padded)[:, :, rows, cols], {"network_size": (padded.shape[3], padded.shape[2]), "tiles": 1}


def with_alpha(pixels: np.ndarray, alpha: np.ndarray | None, fmt: str) -> np.ndarray:
    """Uint8 HW or HWC pixels with the 8-bit alpha appended (LA or RGBA); JPEG gets none."""
    if alpha is None or fmt == "jpeg":
        return pixels
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return np.concatenate([pixels, alpha[..., None]], axis=2)


def translate_pixels(run, decoded: DecodedImage, *, channels_in: int, size_multiple: int, image_size: int,
                     resize: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """The network's output as uint8 (HW or HWC) at the input's size (or its fitted size), the
    8-bit alpha at that size, and how the network ran: `network_size` (w, h) of one run, `tiles`,
    `scaled_to` (w, h) the picture was resampled to before the network (None when it was not).

    `run` maps a float32 N x C x H x W batch in [-1, 1] to the network's output."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, not {resize!r}")
    pixels = convert_channels(integers_to_unit(decoded.pixels), channels_in)
    alpha = decoded.alpha
    if alpha is not None:
        alpha = to_8bit(alpha)
    height, width = pixels.shape[:2]
    target = {"fit": fit_size, "scale": shorter_side_size}.get(resize, lambda w, h, side: (w, h))(width, height, image_size)
    scaled = target != (width, height)
    if scaled:
        pixels = resize_image(pixels, target)
        if alpha is not None and resize == "fit":
            alpha = np.clip(np.rint(resize_plane(alpha.astype(np.float32), target)), 0, 255).astype(np.uint8)
    output, how = run_network(run, unit_to_signed(pixels.transpose(2, 0, 1)[None]),
                              size_multiple=size_multiple, image_size=image_size)
    result = signed_to_unit(output[0]).transpose(1, 2, 0)
    if scaled and resize == "scale":  # back to the input's size
        result = resize_image(result, (width, height))
    result = unit_to_integers(result, np.uint8)
    how["scaled_to"] = target if scaled else None
    return (result[..., 0] if result.shape[2] == 1 else result), alpha, how
