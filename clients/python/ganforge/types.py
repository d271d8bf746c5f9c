"""Typed results: the API's JSON as pydantic models of the SDK's own.

They mirror the server's schemas (service/core/jobs.py, models/manifest.py, the API's schemas)
without importing them: the SDK is a pure HTTP client. Unknown fields are kept (`extra="allow"`),
so a newer server does not break an older client.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class _Request(BaseModel):
    """A nested parameter of a request: unknown fields are a mistake here, caught before sending."""

    model_config = ConfigDict(extra="forbid")


class StyleMixing(_Request):
    """`generate(style_mixing=...)` for style models: from layer `crossover` on, the styles of the
    image that `seed` draws."""

    seed: int
    crossover: int


class Interpolation(_Request):
    """`generate(interpolate=...)`: a walk from the request's seed to `to_seed`, `frames` images
    (both ends included) and one animation; unset fields take the server's defaults (8 frames, in
    w, as webp)."""

    to_seed: int
    frames: int | None = None
    space: Literal["w", "z"] | None = None
    animation: Literal["webp", "gif"] | None = None


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.canceled)


class ModelRef(_Model):
    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


class JobOutput(_Model):
    name: str
    url: str
    content_type: str
    size: int
    sha256: str
    data_uri: str | None = Field(None, description="The bytes as a data URI, when the request asked for `inline`.")


class JobError(_Model):
    type: str
    detail: str


class Job(_Model):
    id: str
    kind: str
    status: JobStatus
    model: ModelRef | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: dict[str, Any] | None = None
    outputs: list[JobOutput] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: JobError | None = None
    cached: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def images(self) -> list[JobOutput]:
        """Outputs that are images, in the order the job wrote them (training samples included)."""
        return [o for o in self.outputs if o.content_type.startswith("image/")]


class JobPage(_Model):
    jobs: list[Job]
    next_cursor: str | None = None


class Manifest(_Model):
    """One version of one model."""

    name: str
    version: int
    task: str
    architecture: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    signature: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    onnx_sha256: str | None = None
    created_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


class ModelSummary(_Model):
    name: str
    versions: list[int]
    aliases: dict[str, int] = Field(default_factory=dict)
    latest: Manifest


class ClassCount(_Model):
    name: str
    count: int | None = None


class Dataset(_Model):
    id: str
    name: str | None = None
    builtin: bool = False
    layout: str
    num_images: int
    classes: list[ClassCount] = Field(default_factory=list)
    domains: list[ClassCount] = Field(default_factory=list)
    preview_url: str | None = None
