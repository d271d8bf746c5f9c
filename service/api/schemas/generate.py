"""POST /generate: images from noise."""

from typing import Literal

from pydantic import ConfigDict, Field

from service.api.schemas.webhooks import WebhookFields

MAX_IMAGES = 64
ImageFormat = Literal["png", "jpeg", "webp"]


class GenerateRequest(WebhookFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "mnist-cdcgan", "n": 16, "seed": 7, "labels": [3]}]},
    )

    model: str = Field(
        description="Model as `name`, `name:version` or `name:alias`; a bare name means `latest`.",
        examples=["mnist-cdcgan", "mnist-cdcgan:1"],
        min_length=1,
        max_length=100,
    )
    n: int = Field(1, ge=1, le=MAX_IMAGES, description="Number of images.", examples=[16])
    seed: int | None = Field(
        None,
        ge=0,
        le=2**32 - 1,
        description="Seed of the latents. With a seed the request is deterministic and its answer is cached; "
        "without one the service draws a seed and reports it in the job's params.",
        examples=[7],
    )
    labels: list[int] | None = Field(
        None,
        min_length=1,
        max_length=MAX_IMAGES,
        description="Class-conditional models: one class for all images or one per image. "
        "Random classes (fixed by the seed) when absent.",
        examples=[[3]],
    )
    truncation: float | None = Field(
        None, gt=0, le=10, description="Clip each latent coordinate to ±truncation: less variety, more typical images.",
        examples=[1.5],
    )
    format: ImageFormat = Field("png", description="Encoding of each output image.", examples=["png"])
