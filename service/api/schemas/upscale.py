"""POST /upscale: super-resolution of one image.

The image comes as a multipart file part `image` (these fields beside it as form fields) or in
JSON as base64 / a data URI under `image` (service/image_input.py); these are the other fields.
"""

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from service.api.schemas.generate import QUALITY_FIELD
from service.api.schemas.one_call import INLINE_FIELD
from service.api.schemas.webhooks import WebhookFields

MIN_TILE = 32
MAX_OUTSCALE = 16.0
UNTILED_MAX_PIXELS = 1024 * 1024  # `tile: 0` (one run over the whole image) only up to this input size
UpscaleFormat = Literal["png", "jpeg", "webp"]


class UpscaleRequest(WebhookFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "sr-x4", "image": "data:image/png;base64,iVBORw0…", "outscale": 4,
                                         "tile": 256, "tile_overlap": 16, "format": "png"}]},
    )

    model: str = Field(
        description="Upscaling model as `name`, `name:version` or `name:alias`; a bare name means `latest`.",
        examples=["sr-x4"], min_length=1, max_length=100,
    )
    outscale: float | None = Field(
        None, ge=1.0, le=MAX_OUTSCALE,
        description="Final factor. Default: the network's own (e.g. 4); any other factor is reached by Lanczos "
        "resampling of the network's output.",
        examples=[4, 2.5],
    )
    tile: int = Field(
        256, ge=0, le=4096,
        description=f"Side of the input tiles the network runs on, so memory stays bounded on large images; at least "
        f"{MIN_TILE}, or 0 for one run over the whole image (inputs up to {UNTILED_MAX_PIXELS} pixels).",
        examples=[256],
    )
    tile_overlap: int = Field(
        16, ge=0, le=256,
        description="Input pixels of context read around each tile and cropped away after the network: at least "
        "the network's receptive radius (the default covers the bundled models) means no seams.",
        examples=[16],
    )
    format: UpscaleFormat = Field(
        "png", description="Output encoding. PNG keeps 16-bit gray inputs 16-bit and keeps alpha; JPEG and WebP "
        "hold 8 bits, and JPEG drops alpha.",
        examples=["png"],
    )
    quality: int | None = QUALITY_FIELD
    inline: bool = INLINE_FIELD

    @field_validator("tile")
    @classmethod
    def _tile_size(cls, tile: int) -> int:
        if 0 < tile < MIN_TILE:
            raise ValueError(f"tile {tile} is too small: use at least {MIN_TILE}, or 0 for no tiling")
        return tile
