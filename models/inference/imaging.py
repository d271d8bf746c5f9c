"""Image bytes in and out: decoding what clients send, encoding what models make."""

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.inference.pixels import max_value

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


DEFAULT_QUALITY = 90  # JPEG and WebP, when a request names none


def encode(pixels: np.ndarray, fmt: str, *, png_compress_level: int = 1, quality: int | None = None) -> bytes:
    """One HW or HWC image (uint8, or uint16 for PNG) as PNG, JPEG or WebP bytes.

    `quality` (1-100, JPEG and WebP; PNG is lossless) defaults to DEFAULT_QUALITY. Gray stays
    gray where the format has gray: PNG (gray, gray + alpha) and JPEG (one channel). WebP has no
    gray mode in its bitstream, so a gray image is stored with R = G = B and decodes as RGB."""
    if fmt == "png":
        return png_bytes(pixels, png_compress_level)
    quality = DEFAULT_QUALITY if quality is None else quality
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.save(buffer, format="JPEG", quality=quality)
    elif fmt == "webp":
        image.save(buffer, format="WEBP", quality=quality)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buffer.getvalue()


_PNG_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray+alpha, RGB, RGBA


def png_bytes(pixels: np.ndarray, level: int = 1) -> bytes:
    """A PNG written directly: every row unfiltered, one zlib stream.

    For the small images generators make, Pillow's per-call overhead costs more than the
    compression itself (0.18 ms against 0.03 ms for a 28x28 image, bench/REPORT.md); this
    writer also takes 16-bit RGB, which Pillow cannot save.
    """
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.dtype == np.uint16:
        depth, rows = 16, pixels.astype(">u2").reshape(height, -1).view(np.uint8)
    elif pixels.dtype == np.uint8:
        depth, rows = 8, pixels.reshape(height, -1)
    else:
        raise ValueError(f"PNG takes uint8 or uint16 pixels, not {pixels.dtype}")
    scanlines = np.zeros((height, rows.shape[1] + 1), dtype=np.uint8)  # a leading 0: filter "none"
    scanlines[:, 1:] = rows
    header = struct.pack(">IIBBBBB", width, height, depth, _PNG_COLOR_TYPES[channels], 0, 0, 0)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)),
        _png_chunk(b"IEND", b""),
    ))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class ImageRejected(ValueError):
    """An input image that can't be used; `status` is the HTTP answer it deserves."""

    def __init__(self, status: int, type_: str, detail: str):
        super().__init__(detail)
        self.status, self.type, self.detail = status, type_, detail


@dataclass
class DecodedImage:
    pixels: np.ndarray  # H x W x C (C = 1 or 3), uint8, or uint16 for 16-bit sources
    alpha: np.ndarray | None  # H x W, same dtype, when the source had transparency

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def max_value(self) -> int:
        return max_value(self.pixels.dtype)


_SIXTEEN_BIT_GRAY = {"I;16", "I;16B", "I;16L", "I"}


def open_image_header(data: bytes, max_pixels: int) -> Image.Image:
    """The image opened lazily: format and size come from its header, no pixel is decoded, so
    one over `max_pixels` is refused at the cost of a few hundred bytes read."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise ImageRejected(413, "image-too-large", str(error)) from None
    except UnidentifiedImageError:  # its message holds the repr of our BytesIO: say it plainly
        raise ImageRejected(422, "corrupt-image", "not a readable image: no image format Pillow knows "
                                                  "(PNG, JPEG, WebP, BMP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(422, "corrupt-image", f"not a readable image: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(
            413, "image-too-large", f"{width}x{height} is {width * height} pixels; the limit is {max_pixels}"
        )
    return image


def decode_image(data: bytes, max_pixels: int) -> DecodedImage:
    """Decode an uploaded image: size checked before pixels are read, EXIF orientation applied,
    palette and odd modes normalised to gray or RGB, alpha split off, 16-bit gray kept 16-bit."""
    image = open_image_header(data, max_pixels)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageRejected(422, "corrupt-image", f"the image data is damaged: {error}") from None
    if image.mode in _SIXTEEN_BIT_GRAY:
        pixels = np.asarray(image, dtype=np.int64).clip(0, 65535).astype(np.uint16)
        return DecodedImage(pixels[..., None], None)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    gray = image.mode in ("1", "L", "LA") or (image.mode == "P" and _palette_is_gray(image))
    alpha = np.asarray(image.convert("RGBA"))[..., 3] if has_alpha else None
    pixels = np.asarray(image.convert("L" if gray else "RGB"))
    return DecodedImage(pixels[..., None] if gray else pixels, alpha)


def _palette_is_gray(image: Image.Image) -> bool:
    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
