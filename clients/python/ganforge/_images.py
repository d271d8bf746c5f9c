"""Images in (paths, bytes, PIL images, files) and out (bytes or data URIs -> PIL images)."""

import base64
import io
import mimetypes
import os
from pathlib import Path
from typing import IO, Union

from PIL import Image

from ganforge._calls import FilePart

ImageInput = Union[str, os.PathLike, bytes, Image.Image, IO[bytes]]
IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


def image_part(image: ImageInput) -> FilePart:
    """The multipart `image` part for a path, raw bytes, an open binary file or a PIL image."""
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return FilePart("image.png", buffer.getvalue(), "image/png")
    if isinstance(image, (bytes, bytearray, memoryview)):
        return FilePart("image", bytes(image), "application/octet-stream")
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FilePart(path.name, path.read_bytes(), content_type)
    if hasattr(image, "read"):
        name = Path(getattr(image, "name", "image")).name
        return FilePart(name, image.read(), "application/octet-stream")
    raise TypeError(f"an image is a path, bytes, a binary file or a PIL image, not {type(image).__name__}")


def decode_image(data: bytes, job_id: str | None = None) -> Image.Image:
    """Decoded and loaded (so the bytes can go); `info["job_id"]` names the job that made it."""
    image = Image.open(io.BytesIO(data))
    image.load()
    if job_id:
        image.info["job_id"] = job_id
    return image


def data_uri_bytes(uri: str) -> bytes:
    """The bytes of a `data:<type>;base64,<...>` URI."""
    head, _, payload = uri.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        raise ValueError("not a base64 data URI")
    return base64.b64decode(payload)
