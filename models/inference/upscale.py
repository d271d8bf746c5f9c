"""Super-resolution around the network: tiling, resampling to any factor, alpha, bit depth.

The network sees the image in tiles of `tile` x `tile` input pixels, each read with
`tile_overlap` extra pixels of real context on every side (clamped at the image's edges); of
each tile's output only the part that belongs to the tile itself is kept. A pixel near a tile
border therefore gets the context it would get in one whole-image run, up to the overlap.
sr-x4's receptive radius is 18 input pixels (1 + 2 per block x 8 + 1), but the outer ones weigh so little that from an
overlap of 12 on its tiled output is byte-identical to the untiled one (measured on held-out
photos; the default is 16): no seams (tests/unit/models/test_upscale_units.py, test_upscale_quality.py).
Cropping is exact where blending would only smear a mismatch.

Memory stays bounded: one tile's activations at a time, and the output written straight into
its final 8- or 16-bit array (a float copy of the whole output is never made).

- `outscale`: the network's factor, or any other factor by Lanczos resampling of its output.
- Alpha: upscaled on its own with bicubic resampling, straight to the output size.
- Gray input through an RGB network: replicated to three channels, and the mean of the three
  output channels taken back to gray. RGB input through a gray network: channel by channel.
- 16-bit gray (PNG `I;16`) stays 16-bit all the way when the output is PNG; JPEG and WebP
  hold 8 bits, so it is reduced to 8 bits for them.

Free of torch and ONNX Runtime: `run` is whatever maps a batch through the network.
"""

import io
import math
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from models.inference.imaging import DEFAULT_QUALITY, DecodedImage
from models.inference.pixels import integers_to_unit, to_8bit, unit_to_integers
from models.manifest import UpscalerSignature

RunFn = Callable[[np.ndarray], np.ndarray]  # float32 [N, C, h, w] in [0, 1] -> [N, C, s*h, s*w]


def tile_starts(length: int, tile: int) -> list[int]:
    return list(range(0, length, tile)) if tile > 0 else [0]


def upscale_pixels(run: RunFn, pixels: np.ndarray, scale: int, *, model_channels: int, tile: int = 256,
                   overlap: int = 16, size_multiple: int = 1) -> tuple[np.ndarray, int]:
    """H x W x C uint8/uint16 pixels -> (sH x sW x C of the same dtype, tiles run).

    `tile` 0 runs the whole image at once. Each tile's input is its own area plus `overlap`
    pixels of context per side; its output is cropped back to the area before it is stored.
    """
    height, width, channels = pixels.shape
    out = np.empty((height * scale, width * scale, channels), dtype=pixels.dtype)
    tile_h = tile if tile > 0 else height
    tile_w = tile if tile > 0 else width
    count = 0
    for top in tile_starts(height, tile_h):
        for left in tile_starts(width, tile_w):
            bottom, right = min(top + tile_h, height), min(left + tile_w, width)
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(bottom + overlap, height), min(right + overlap, width)
            patch = integers_to_unit(pixels[y0:y1, x0:x1])  # h x w x C
            upscaled = _run_patch(run, patch, model_channels, size_multiple)  # s*h x s*w x C float
            keep = upscaled[(top - y0) * scale:(bottom - y0) * scale, (left - x0) * scale:(right - x0) * scale]
            out[top * scale:bottom * scale, left * scale:right * scale] = unit_to_integers(keep, pixels.dtype)
            count += 1
    return out, count


def _run_patch(run: RunFn, patch: np.ndarray, model_channels: int, size_multiple: int) -> np.ndarray:
    h, w, channels = patch.shape
    pad_h, pad_w = -h % size_multiple, -w % size_multiple
    if pad_h or pad_w:
        patch = np.pad(patch, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
    chw = np.ascontiguousarray(patch.transpose(2, 0, 1))
    if model_channels == channels:
        result = run(chw[None])[0]
    elif model_channels == 3 and channels == 1:  # gray through an RGB network, and back
        result = run(np.repeat(chw[None], 3, axis=1))[0].mean(axis=0, keepdims=True)
    elif model_channels == 1 and channels == 3:  # RGB through a gray network: a batch of 3 channels
        result = run(chw[:, None])[:, 0]
    else:
        raise ValueError(f"a {model_channels}-channel network cannot take {channels}-channel images")
    scale = result.shape[1] // patch.shape[0]
    return result.transpose(1, 2, 0)[:h * scale, :w * scale]


def resample(pixels: np.ndarray, size: tuple[int, int], method: int) -> np.ndarray:
    """H x W or H x W x C uint8/uint16 to (width, height) `size` with Pillow, dtype kept."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return resample(pixels[..., 0], size, method)[..., None]
    if pixels.ndim == 3 and pixels.dtype == np.uint16:  # Pillow has no 16-bit RGB: per channel
        return np.stack([resample(pixels[..., c], size, method) for c in range(pixels.shape[2])], axis=-1)
    return np.asarray(Image.fromarray(pixels).resize(size, method))


def output_size(width: int, height: int, outscale: float) -> tuple[int, int]:
    return max(1, round(width * outscale)), max(1, round(height * outscale))


def upscale_image(run: RunFn, image: DecodedImage, signature: UpscalerSignature, *, outscale: float | None = None,
                  tile: int = 256, overlap: int = 16) -> tuple[np.ndarray, dict]:
    """Decoded image -> output pixels (H x W, H x W x 2 / 3 / 4; dtype of the input) and figures."""
    scale = signature.scale
    outscale = outscale or scale
    width, height = image.size
    started = time.perf_counter()
    pixels, tiles = upscale_pixels(run, image.pixels, scale, model_channels=signature.channels, tile=tile,
                                   overlap=overlap, size_multiple=signature.size_multiple)
    inferred = time.perf_counter()
    target = output_size(width, height, outscale)
    if target != (width * scale, height * scale):
        pixels = resample(pixels, target, Image.LANCZOS)
    if image.alpha is not None:
        alpha = resample(image.alpha, target, Image.BICUBIC)
        pixels = np.concatenate([pixels, alpha[..., None].astype(pixels.dtype)], axis=-1)
    if pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    figures = {"tiles": tiles, "inference_s": round(inferred - started, 4),
               "resample_s": round(time.perf_counter() - inferred, 4), "output_size": list(target)}
    return pixels, figures


def to_format(pixels: np.ndarray, fmt: str) -> np.ndarray:
    """What `fmt` can hold: 8 bits for JPEG/WebP, no alpha for JPEG."""
    if fmt != "png":
        pixels = to_8bit(pixels)
    if fmt == "jpeg" and pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        pixels = pixels[..., :-1]
        pixels = pixels[..., 0] if pixels.shape[2] == 1 else pixels
    return np.ascontiguousarray(pixels)


def encode_owned(pixels: list[np.ndarray], fmt: str, png_compress_level: int, quality: int | None = None) -> bytes:
    """Encode the one array in `pixels`, taken out of the list so it can be freed once Pillow has its
    own copy: at 8192 x 8192 that is 192 MiB less at peak. Pillow's PNG writer on purpose, not
    `models.inference.imaging.png_bytes` (unfiltered rows, tuned for small generator outputs): on an
    8192 x 8192 photo its adaptive filters made a 36 MiB file against 75 MiB, in less time."""
    image = Image.fromarray(pixels.pop())
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", compress_level=png_compress_level)
    else:
        image.save(buffer, format=fmt.upper(), quality=DEFAULT_QUALITY if quality is None else quality)
    return buffer.getvalue()


def onnx_runner(session, signature: UpscalerSignature) -> RunFn:
    """A plain session as a RunFn, for tools outside the worker (the CLI's evaluation, benchmarks)."""

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run([signature.output], {signature.input: batch})[0]

    return run


def tiles_for(width: int, height: int, tile: int) -> int:
    return 1 if tile <= 0 else math.ceil(width / tile) * math.ceil(height / tile)
