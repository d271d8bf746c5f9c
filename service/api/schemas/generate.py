"""POST /generate: images from noise."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from service.api.schemas.one_call import INLINE_FIELD
from service.api.schemas.webhooks import WebhookFields

MAX_IMAGES = 64
ImageFormat = Literal["png", "jpeg", "webp"]
QUALITY_FIELD = Field(
    None, ge=1, le=100,
    description="JPEG and WebP: encoder quality, 1 (smallest) to 100 (best); default 90. PNG is lossless and ignores it.",
    examples=[90],
)


class StyleMixing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: StrictInt = Field(ge=0, le=2**32 - 1, description="Seed whose styles take over.", examples=[11])
    crossover: StrictInt = Field(
        ge=0, description="First layer (index into the model's `style.layer_resolutions`) that reads the second "
        "seed's styles: low values give it the coarse structure, high values only the fine detail.", examples=[4],
    )


class Interpolation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_seed: StrictInt = Field(ge=0, le=2**32 - 1, description="Seed the walk ends at (it starts at `seed`).", examples=[11])
    frames: StrictInt = Field(8, ge=2, le=MAX_IMAGES, description="Images along the walk, both ends included.", examples=[8])
    space: Literal["w", "z"] = Field(
        "w", description="Walk in w (style models; smoother) or in z (any generator; along the sphere).", examples=["w"],
    )
    animation: Literal["webp", "gif"] = Field("webp", description="Encoding of the animated output.", examples=["webp"])


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
    n: StrictInt = Field(1, ge=1, le=MAX_IMAGES, description="Number of images.", examples=[16])
    seed: StrictInt | None = Field(
        None,
        ge=0,
        le=2**32 - 1,
        description="Seed of the latents. With a seed the request is deterministic and its answer is cached; "
        "without one the service draws a seed and reports it in the job's params.",
        examples=[7],
    )
    labels: list[StrictInt] | None = Field(
        None,
        min_length=1,
        max_length=MAX_IMAGES,
        description="Class-conditional models: one class for all images or one per image. "
        "Random classes (fixed by the seed) when absent.",
        examples=[[3]],
    )
    truncation: StrictFloat | None = Field(
        None, gt=0, le=10, description="Clip each latent coordinate to ±truncation: less variety, more typical images.",
        examples=[1.5],
    )
    truncation_psi: StrictFloat | None = Field(
        None, ge=-2, le=2,
        description="Style models: pull w towards its tracked average (StyleGAN's ψ): 1 leaves it, 0 gives the "
        "average image for every seed. (`truncation` is the latent clip for other models.)",
        examples=[0.7],
    )
    style_mixing: StyleMixing | None = Field(
        None, description="Style models: from layer `crossover` on, use the styles of a second seed.",
        examples=[{"seed": 11, "crossover": 4}],
    )
    noise_mode: Literal["const", "random"] | None = Field(
        None, description="Style models: the per-layer noise stored with the weights (`const`, the default) or "
        "drawn from the seed (`random`).", examples=["const"],
    )
    interpolate: Interpolation | None = Field(
        None, description="A latent walk from `seed` to `to_seed` (needs n = 1): `frames` images and one "
        "animated picture.", examples=[{"to_seed": 11, "frames": 8, "space": "w"}],
    )
    codes: dict[str, StrictFloat] | None = Field(
        None, max_length=16,
        description="InfoGAN models: set controllable codes by the names the manifest gives them (a category as "
        "its index, a continuous code as its value); codes left out are drawn from the seed.",
        examples=[{"category": 3, "continuous_0": 0.8}],
    )
    format: ImageFormat = Field("png", description="Encoding of each output image.", examples=["png"])
    quality: StrictInt | None = QUALITY_FIELD
    grid: StrictBool = Field(
        False, description="Tile the n images into one picture (`grid.<format>`), encoded once, instead of n outputs.",
        examples=[False],
    )
    inline: StrictBool = INLINE_FIELD
