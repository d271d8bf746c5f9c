"""Requests that carry an image (/translate, /upscale): a multipart file part named `image`, or
JSON with `image` as base64 or a data URI. Both arrive as raw image bytes plus the other fields,
which the endpoint validates with its own schema.

Bytes are counted as they arrive (413 past the cap, whatever Content-Length says); the image's
size is read from its header and one over the pixel limit refused before any pixel is decoded;
then it is decoded once here, so a corrupt one is refused before a job exists. Decodes share a
per-process pixel budget (two largest-allowed images at once), so eight concurrent 4096x4096
uploads wait their turn instead of holding 8 x ~200 MB.
"""

import base64
import binascii
import json
import re
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from models.inference.imaging import (
    DecodedImage,
    ImageRejected,
    decode_image,
    open_image_header,
)
from service.api.errors import (
    Problem,
    invalid,
    pydantic_field_errors,
    validation_problem,
)
from service.api.upload import (
    MalformedUpload,
    UnsupportedMediaType,
    UploadTooLarge,
    receive_upload,
)

IMAGE_FIELD = "image"
_DATA_URI = re.compile(r"^data:(?P<type>[\w/+.-]+)?(?P<params>(;[\w=.-]+)*);base64,", re.IGNORECASE)


class JsonFields(dict):
    """The fields of a JSON body. A form's fields are all text, parsed into the schema's types; a
    JSON body's already have their types, held strictly: `"tile": false` is not a tile of 0."""


@dataclass
class ImageRequest:
    data: bytes
    image: DecodedImage
    fields: dict[str, Any]


def too_large(max_bytes: int) -> Problem:
    return Problem(413, "image-too-large", "Image too large", f"the request is over the {max_bytes}-byte limit")


def decode_base64_image(text: Any) -> bytes:
    if not isinstance(text, str) or not text:
        raise invalid(IMAGE_FIELD, "give the image as a base64 string or a data URI", "missing")
    match = _DATA_URI.match(text)
    payload = text[match.end():] if match else text
    try:
        return base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(IMAGE_FIELD, "not valid base64", "invalid_base64") from None


async def _read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes * 4 // 3 + 4096:  # base64 is 4/3 of the image, plus the other fields
            raise too_large(max_bytes)
    try:
        fields = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise invalid("body", f"malformed JSON: {error}", "json_invalid") from None
    except RecursionError:
        raise invalid("body", "JSON nested too deep", "json_too_deep") from None
    if not isinstance(fields, dict):
        raise invalid("body", "send a JSON object", "json_invalid")
    return JsonFields(fields)


async def _read_multipart(request: Request, max_bytes: int) -> tuple[bytes, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / IMAGE_FIELD
        try:
            upload = await receive_upload(request, IMAGE_FIELD, path, max_bytes, file_label="the image")
        except UploadTooLarge:
            raise too_large(max_bytes) from None
        except MalformedUpload as error:
            raise invalid(error.field, error.message, "malformed") from None
        if not upload.has_file:
            raise invalid(IMAGE_FIELD, "attach the image as a file part named `image`", "missing")
        return path.read_bytes(), dict(upload.fields)


async def receive_image_request(request: Request, *, max_bytes: int, max_pixels: int,
                                before_decode: Callable[[tuple[int, int], dict[str, Any]], Awaitable[None]] | None = None,
                                ) -> ImageRequest:
    """The image and the other fields of a request; `await before_decode(size, fields)` may refuse
    the request from the header's size alone, before any pixel is decoded."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        fields = await _read_json(request, max_bytes)
        data = decode_base64_image(fields.pop(IMAGE_FIELD, None))
        if len(data) > max_bytes:
            raise too_large(max_bytes)
    else:
        try:
            data, fields = await _read_multipart(request, max_bytes)
        except UnsupportedMediaType:
            raise Problem(415, "unsupported-media-type", "Unsupported media type",
                          "send multipart/form-data with an `image` file part, or `application/json` with `image` in base64") from None
    try:
        width, height = open_image_header(data, max_pixels).size  # cheap: the header only
        if before_decode is not None:
            await before_decode((width, height), fields)
        async with _decode_budget(2 * max_pixels).hold(width * height):
            # In a worker thread: a large image takes a while to decode, and the event loop serves everyone.
            image = await anyio.to_thread.run_sync(decode_image, data, max_pixels)
    except ImageRejected as rejected:
        raise Problem(rejected.status, rejected.type, "Unusable image", rejected.detail,
                      errors=[{"field": IMAGE_FIELD, "message": rejected.detail, "type": rejected.type}]) from None
    return ImageRequest(data, image, fields)


class PixelBudget:
    """At most `total` pixels being decoded at once in this process; a larger image than the whole
    budget still runs, alone."""

    def __init__(self, total: int):
        self.total = total
        self.used = 0
        self._changed: anyio.Condition | None = None  # made inside the event loop, on first use

    @asynccontextmanager
    async def hold(self, pixels: int):
        pixels = min(pixels, self.total)
        if self._changed is None:
            self._changed = anyio.Condition()
        async with self._changed:
            while self.used + pixels > self.total:
                await self._changed.wait()
            self.used += pixels
        try:
            yield
        finally:
            async with self._changed:
                self.used -= pixels
                self._changed.notify_all()


_budgets: dict[int, PixelBudget] = {}


def _decode_budget(total: int) -> PixelBudget:
    return _budgets.setdefault(total, PixelBudget(total))


def validate_fields(schema: type[BaseModel], fields: dict[str, Any]) -> BaseModel:
    """The non-image fields against the endpoint's schema, refused as 422 naming each field; a
    JSON body's strictly, as JSON (numbers are not booleans, strings not numbers)."""
    try:
        if isinstance(fields, JsonFields):
            return schema.model_validate_json(json.dumps(fields), strict=True)
        return schema.model_validate(fields)
    except ValidationError as error:
        raise validation_problem(pydantic_field_errors(error)) from None
