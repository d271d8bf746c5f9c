"""The job: one resource for every kind of work (generate, translate, upscale, train)."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, model_serializer

WebhookEvent = Literal["start", "progress", "completed"]
ALL_EVENTS: tuple[WebhookEvent, ...] = ("start", "progress", "completed")


class JobWebhook(BaseModel):
    """The webhook a job reports to, as stored on the job."""

    url: str = Field(description="Receiver of the POSTs.", examples=["https://example.com/hooks/ganforge"])
    events: list[WebhookEvent] = Field(description="Events that are sent.", examples=[["start", "completed"]])

    def wants(self, event: WebhookEvent) -> bool:
        return event in self.events


JobKind = Literal["generate", "translate", "upscale", "train", "evaluate", "infer", "register_model",
                  "import_model"]


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.canceled})


class ModelRef(BaseModel):
    name: str = Field(description="Model name.", examples=["mnist-cdcgan"])
    version: int = Field(description="The version the request resolved to.", examples=[1])


STORED_IN_ARTIFACTS = "artifacts"  # JobOutput.stored: the bytes are the artifact store's outputs/<sha256>


class JobOutput(BaseModel):
    name: str = Field(description="Output name, unique within the job.", examples=["0.png"])
    url: str = Field(description="Where to fetch it.", examples=["/jobs/3f2a…/outputs/0.png"])
    content_type: str = Field(description="MIME type.", examples=["image/png"])
    size: int = Field(description="Bytes.", examples=[412])
    sha256: str = Field(description="Digest of the bytes; also the ETag.",
                        examples=["c543f248e604f07e9385976b8f9f6c71f05b4f3687025df90336c3f07283b9ca"])
    stored: str | None = Field(None, description="Where the bytes live when not in Redis: `artifacts` for an output "
                               "above GANFORGE_LARGE_OUTPUT_BYTES (the artifact store's outputs/<sha256>).",
                               examples=["artifacts"])

    @model_serializer(mode="wrap")
    def _leave_out_redis(self, handler):
        # An output in Redis (nearly all) says nothing of where it is: ~16 bytes less per output in its record.
        data = handler(self)
        if data.get("stored") is None:
            data.pop("stored", None)
        return data


class JobError(BaseModel):
    type: str = Field(description="Stable error type.", examples=["model_failed"])
    detail: str = Field(description="What went wrong.", examples=["ONNX Runtime failed: …"])


class Job(BaseModel):
    id: str = Field(description="Job id.", examples=["5b0c8c5e2f8e4b1c9a7d3e2f1a0b9c8d"])
    kind: JobKind = Field(description="What the job does.", examples=["generate"])
    status: JobStatus = Field(description="queued · running · succeeded · failed · canceled.", examples=["succeeded"])
    model: ModelRef | None = Field(
        None, description="Model name and the version it resolved to (training: the version it registered).",
        examples=[{"name": "mnist-cdcgan", "version": 1}],
    )
    params: dict[str, Any] = Field(
        description="The validated request, with defaults and the seed filled in.",
        examples=[{"n": 16, "seed": 7, "labels": [3], "truncation": None, "format": "png"}],
    )
    created_at: datetime = Field(description="When the job was accepted.", examples=["2026-11-23T06:09:52.879Z"])
    started_at: datetime | None = Field(None, description="When a worker took it.", examples=["2026-11-23T06:09:52.921Z"])
    finished_at: datetime | None = Field(None, description="When it reached a final status.", examples=["2026-11-23T06:09:52.986Z"])
    progress: dict[str, Any] | None = Field(
        None, description="For long jobs: step, total, losses, images_per_sec, eta_s.",
        examples=[{"step": 200, "total": 1000, "losses": {"d": 1.21, "g": 0.93}, "images_per_sec": 410.0, "eta_s": 125.0}],
    )
    outputs: list[JobOutput] = Field(
        default_factory=list, description="What the job produced, each with a URL.",
        examples=[[{"name": "0.png", "url": "/jobs/5b0c…/outputs/0.png", "content_type": "image/png", "size": 412,
                    "sha256": "c543f248…"}]],
    )
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="Timings and quality figures.",
        examples=[{"inference_s": 0.0012, "encode_s": 0.0005, "batch_images": 16}],
    )
    error: JobError | None = Field(None, description="Why it failed, when it did.",
                                   examples=[{"type": "input_expired", "detail": "the input image expired …"}])
    cached: bool = Field(False, description="True when answered from the result cache without a worker.", examples=[False])
    deliveries: int = Field(0, description="Times a worker started running the job: more than one when a worker "
                            "died running it (after GANFORGE_MAX_DELIVERIES such deaths it fails as "
                            "`worker-crashed`) or a training resumed elsewhere.", examples=[1])
    owner: str | None = Field(None, description="Owner of the API key that created the job; only that owner "
                              "(and admins) can see it.", examples=["ci"])
    webhook: JobWebhook | None = Field(None, description="Where and on which events the job is POSTed.",
                                       examples=[{"url": "https://example.com/hooks/ganforge", "events": ["completed"]}])
