"""What /generate, /translate and /upscale answer besides the plain job: outputs inline as data
URIs (`"inline": true`), or the picture itself (`Accept: image/png`, see service/api/jobs/answer.py)."""

from pydantic import Field

from service.core.jobs import Job, JobOutput

INLINE_MAX_BYTES = 4 << 20  # outputs past this many bytes in all stay as URLs
JOB_ID_HEADER = "GANForge-Job-Id"

INLINE_FIELD = Field(
    False, exclude=True,  # how to answer, not what to compute: kept out of params and the cache key
    description=f"Answer with each output's bytes inline as a data URI (`outputs[].data_uri`) once the job "
    f"has finished, up to {INLINE_MAX_BYTES >> 20} MiB in all; larger outputs keep only their URL.",
    examples=[True],
)


class InlineOutput(JobOutput):
    data_uri: str | None = Field(
        None, description="The output's bytes as a data URI, when the request asked for `inline` and the job finished.",
        examples=["data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABwAAAAc..."],
    )


class JobAnswer(Job):
    outputs: list[InlineOutput] = Field(
        default_factory=list, description="What the job produced, each with a URL (and its bytes with `inline`).",
        examples=[[{"name": "0.png", "url": "/jobs/5b0c…/outputs/0.png", "content_type": "image/png", "size": 412,
                    "sha256": "c543f248…", "data_uri": None}]],
    )


_PICTURE = {"schema": {"type": "string", "format": "binary"}}

ONE_CALL_RESPONSES = {
    200: {
        "model": JobAnswer,
        "description": "Finished within `Prefer: wait` or served from the cache. With `Accept: image/png` (jpeg, "
        f"webp) the body is the picture itself, its job named by the `{JOB_ID_HEADER}` and `Location` headers.",
        "content": {"image/png": _PICTURE, "image/jpeg": _PICTURE, "image/webp": _PICTURE},
    },
    406: {"description": "`Accept` asks for a picture the request cannot be answered with (n > 1 without `grid`, "
                         "or a `format` that differs)", "content": {"application/problem+json": {}}},
}
