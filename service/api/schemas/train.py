"""POST /train: a training job on a built-in or uploaded dataset."""

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from service.api.schemas.webhooks import WebhookFields

MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class TrainRequest(WebhookFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "architecture": "cdcgan",
                    "dataset": "digits",
                    "model_name": "digits-cdcgan",
                    "steps": 500,
                    "image_size": 8,
                    "hyperparameters": {"base_features": 32, "spectral_norm": True},
                }
            ]
        },
    )

    architecture: str = Field(
        description="What to train; GET /train/architectures lists them with their hyperparameters.",
        examples=["cdcgan"],
        max_length=64,
    )
    dataset: str = Field(description="A built-in dataset name or an uploaded dataset's id.", examples=["digits"], max_length=64)
    model_name: str = Field(
        description="Register the result as the next version of this model (alias `latest`).",
        examples=["digits-cdcgan"],
        pattern=MODEL_NAME_PATTERN,
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the architecture's defaults (literature values); unknown keys are refused.",
        examples=[{"lr_g": 0.0002, "batch_size": 64}],
    )
    steps: StrictInt | None = Field(None, ge=1, le=1_000_000, description="Generator updates to run.", examples=[500])
    epochs: StrictInt | None = Field(
        None, ge=1, le=10_000, description="Passes over the dataset, instead of `steps`.", examples=[5]
    )
    image_size: StrictInt | None = Field(
        None, ge=8, le=256, description="Train at this square size; default: the dataset's own size.", examples=[28]
    )
    seed: StrictInt | None = Field(
        None, ge=0, le=2**32 - 1, description="Seed of initialisation, batches and noise; drawn when absent.", examples=[0]
    )
    checkpoint_every: StrictInt = Field(
        200, ge=0, le=1_000_000, description="Checkpoint every this many steps (0: only at the end or on cancel).",
        examples=[200],
    )
    sample_every: StrictInt = Field(
        200, ge=0, le=1_000_000, description="Publish a sample grid every this many steps (0: only at the end).",
        examples=[200],
    )

    promote: Literal["if_better", "always"] = Field(
        "if_better",
        description="When the new version becomes `latest`: `if_better` (it must beat its baseline: bicubic for an "
        "upscaler, the previous version's FID for a generator, the input itself for a translator) or `always`. "
        "It is registered either way; the job's metrics and the manifest's `quality_gate` say which and why.",
        examples=["if_better"],
    )
    resume_from: str | None = Field(
        None, max_length=64,
        description="A canceled or failed training job of yours: continue from its newest checkpoint with its "
        "settings (architecture, dataset, model_name, hyperparameters, seed); `steps` may be raised, and "
        "`hyperparameters` may change batch_size, precision and compile (e.g. a smaller batch after out_of_memory).",
        examples=["0b6f2c1e9a7d4c52"],
    )
    register_only: StrictBool = Field(
        False, description="With `resume_from`: no more training; export and register its newest checkpoint.",
        examples=[False],
    )

    @model_validator(mode="after")
    def _steps_or_epochs(self) -> "TrainRequest":
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give `steps` or `epochs`, not both")
        return self


class ArchitectureInfo(BaseModel):
    name: str = Field(description="Value for `architecture`.", examples=["cdcgan"])
    summary: str = Field(description="What it is and its defaults.",
                         examples=["Class-conditional DCGAN: label embedding in G, projection D with hinge loss."])
    task: str = Field(description="What the trained model does.", examples=["generate"])
    layouts: list[str] = Field(description="Dataset layouts it trains on.", examples=[["classes"]])
    hyperparameters: dict[str, Any] = Field(
        description="JSON schema of `hyperparameters`, with defaults.",
        examples=[{"type": "object", "properties": {"lr_g": {"type": "number", "default": 0.0002}}}],
    )


class ArchitectureList(BaseModel):
    architectures: list[ArchitectureInfo] = Field(description="Every trainable architecture.", examples=[[]])
