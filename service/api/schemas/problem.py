"""The error body (RFC 9457), documented in the OpenAPI schema."""

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the failing field.", examples=["labels.0"])
    message: str = Field(description="What is wrong with it.", examples=["label 12 is outside 0..9"])
    type: str = Field(description="Machine-readable reason.", examples=["out_of_range"])


class ProblemDetail(BaseModel):
    type: str = Field(description="Stable URI of the problem type.", examples=["https://ganforge.dev/problems/unknown-model"])
    title: str = Field(description="Short summary of the problem type.", examples=["Unknown model"])
    status: int = Field(description="HTTP status code.", examples=[404])
    detail: str = Field(description="What went wrong in this request.", examples=["no model named 'mnist-xyz'"])
    instance: str | None = Field(None, description="The request path.", examples=["/generate"])
    errors: list[FieldError] | None = Field(
        None, description="For validation errors: each failing field.",
        examples=[[{"field": "n", "message": "Input should be less than or equal to 64", "type": "less_than_equal"}]],
    )
    error: str | None = Field(
        None, description="Open Inference Protocol v2 routes (`/v2/...`): the message again, in the member the "
        "protocol's clients read.", examples=["unexpected shape for input 'z', model expects [-1, 64]"],
    )


PROBLEM_RESPONSES = {
    status: {"model": ProblemDetail, "content": {"application/problem+json": {}}, "description": description}
    for status, description in {
        404: "Unknown model or job",
        409: "The job is already finished",
        410: "The output expired from the result cache",
        422: "Invalid request",
        429: "Queue full; retry after the Retry-After seconds",
        503: "Redis unreachable; retry after the Retry-After seconds",
    }.items()
}
