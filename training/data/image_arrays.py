"""Pillow images -> the arrays trainers take: float32 [N, C, H, W] in [-1, 1], square."""

from collections.abc import Iterable

import numpy as np
from PIL import Image

from models.inference.pixels import integers_to_signed


def pil_mode(channels: int) -> str:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    return "L" if channels == 1 else "RGB"


def square(image: Image.Image) -> Image.Image:
    """The largest centered square: GANs train on square images, and cropping keeps proportions."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def to_array(images: Iterable[Image.Image], image_size: int, channels: int) -> np.ndarray:
    mode = pil_mode(channels)
    rows = []
    for image in images:
        image = square(image.convert(mode))
        if image.size != (image_size, image_size):
            image = image.resize((image_size, image_size), Image.Resampling.BICUBIC, reducing_gap=2.0)
        rows.append(np.asarray(image, dtype=np.uint8).reshape(image_size, image_size, channels))
    if not rows:
        return np.zeros((0, channels, image_size, image_size), np.float32)
    return np.ascontiguousarray(integers_to_signed(np.stack(rows).transpose(0, 3, 1, 2)))


def gray_to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """[N, 1, H, W] grayscale in [-1, 1] -> `channels` channels (gray repeated for RGB)."""
    pil_mode(channels)
    return np.ascontiguousarray(np.repeat(images, channels, axis=1)) if channels == 3 else images
