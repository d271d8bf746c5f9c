"""POST /translate: an image through one direction of an image-to-image model.

The image itself is not a field of this schema: it arrives as a multipart file part named
`image`, or in JSON as `image` (base64 or a data URI); service/image_input.py reads it and
these are the other fields, validated after it.
"""

from typing import Literal

from pydantic import ConfigDict, Field

from service.api.schemas.generate import QUALITY_FIELD, ImageFormat
from service.api.schemas.one_call import INLINE_FIELD
from service.api.schemas.webhooks import WebhookFields

Direction = Literal["a2b", "b2a"]
Resize = Literal["scale", "none", "fit"]


class TranslateRequest(WebhookFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "edges2digits-pix2pix", "direction": "a2b", "format": "png"}]},
    )

    model: str = Field(
        description="A translate model as `name`, `name:version` or `name:alias`; a bare name means `latest`.",
        examples=["edges2digits-pix2pix", "thin2bold-cyclegan:1"],
        min_length=1,
        max_length=100,
    )
    direction: Direction = Field(
        "a2b",
        description="`a2b` (domain A to B) or `b2a`; a CycleGAN version carries both, a pix2pix version only a2b.",
        examples=["a2b"],
    )
    format: ImageFormat = Field(
        "png", description="Encoding of the output. JPEG has no alpha, so an input's transparency is dropped there.",
        examples=["png"],
    )
    quality: int | None = QUALITY_FIELD
    resize: Resize = Field(
        "scale",
        description="`scale` (default): the shorter side is scaled to the model's training size, so the content is at "
        "the scale the model learned, and the output is scaled back to the input's size. `none`: the input's own pixels "
        "at their own scale. `fit`: the longer side is scaled to the training size; the output keeps that fitted size. "
        "A pix2pix U-Net (a 1x1 bottleneck at its training size) runs in overlapping tiles of that size blended without "
        "seams; a CycleGAN ResNet runs once over the whole picture, padded by reflection and cropped back.",
        examples=["scale"],
    )
    inline: bool = INLINE_FIELD


class TranslateBody(TranslateRequest):
    """What an Idempotency-Key's body is compared by: the fields and the image's digest."""

    image_sha256: str = Field(description="SHA-256 of the uploaded image bytes.")


_FIELD_DOCS = {
    name: {k: v for k, v in spec.items() if k in ("type", "enum", "description", "default", "examples")}
    for name, spec in TranslateRequest.model_json_schema()["properties"].items()
    if name in ("model", "direction", "format", "quality", "resize", "inline")
}

# The OpenAPI request body (the endpoint reads the body itself, so FastAPI cannot infer it).
REQUEST_BODY_DOCS = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image", "model"],
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "The image: PNG, JPEG, WebP, "
                                  "GIF, BMP or TIFF; gray, RGB or with alpha; EXIF orientation is applied."},
                        **_FIELD_DOCS,
                    },
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["image", "model"],
                    "properties": {
                        "image": {"type": "string", "description": "The image as base64 or a data URI."},
                        **_FIELD_DOCS,
                        "webhook": {"type": "string", "format": "uri", "description": "See POST /generate."},
                        "webhook_events": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "example": {"model": "edges2digits-pix2pix", "image": "data:image/png;base64,iVBORw0KGgo…", "direction": "a2b"},
            },
        },
    }
}
