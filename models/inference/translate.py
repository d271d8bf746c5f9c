"""Image-to-image translation around the network: channels, fitting, reflect padding, alpha.

The input image is converted to the channels the direction takes (gray <-> RGB), optionally
resized to fit the model's training size, padded (reflect) to the network's size multiple, run
through `run` (ONNX Runtime in the worker) and cropped back. Alpha never goes through the
network: it is carried through unchanged (resized with the image when `resize` is `fit`) and put
back on the output, except in JPEG, which has no alpha channel. Free of torch and ONNX Runtime.
"""

import math

import numpy as np
from PIL import Image

from models.inference.imaging import DecodedImage
from models.inference.pixels import integers_to_unit, to_8bit, to_uint8, unit_to_signed

MIN_NETWORK_SIDE = 16  # the ResNet's bottleneck stays at least 4x4 (its reflection pads need 2)
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


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One float32 H x W plane resized (bicubic, antialiased when shrinking) to size = (w, h)."""
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize(size, Image.Resampling.BICUBIC))


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


def with_alpha(pixels: np.ndarray, alpha: np.ndarray | None, fmt: str) -> np.ndarray:
    """Uint8 HW or HWC pixels with the 8-bit alpha appended (LA or RGBA); JPEG gets none."""
    if alpha is None or fmt == "jpeg":
        return pixels
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if fmt == "webp" and pixels.shape[2] == 1:  # WebP stores RGBA, not LA
        pixels = np.repeat(pixels, 3, axis=2)
    return np.concatenate([pixels, alpha[..., None]], axis=2)


def translate_pixels(run, decoded: DecodedImage, *, channels_in: int, size_multiple: int, image_size: int,
                     resize: str) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """The network's output as uint8 (HW or HWC) at the input's size (or its fitted size), the
    8-bit alpha at that size, and the padded size (w, h) the network ran at.

    `run` maps a float32 N x C x H x W batch in [-1, 1] to the network's output."""
    pixels = convert_channels(integers_to_unit(decoded.pixels), channels_in)
    alpha = decoded.alpha
    if alpha is not None:
        alpha = to_8bit(alpha)
    if resize == "fit":
        size = fit_size(pixels.shape[1], pixels.shape[0], image_size)
        if size != (pixels.shape[1], pixels.shape[0]):
            pixels = resize_image(pixels, size)
            if alpha is not None:
                alpha = np.clip(np.rint(resize_plane(alpha.astype(np.float32), size)), 0, 255).astype(np.uint8)
    batch = unit_to_signed(pixels.transpose(2, 0, 1)[None])
    padded, (rows, cols) = pad_reflect(batch, size_multiple)
    output = run(padded)[:, :, rows, cols]
    return to_uint8(output)[0], alpha, (padded.shape[3], padded.shape[2])
