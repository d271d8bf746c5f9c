"""Exceptions the SDK raises: every API error carries the problem+json fields the server sent."""

from typing import Any

import httpx

from ganforge.types import Job


class GanforgeError(Exception):
    """Base of everything this package raises."""


class ConnectionFailed(GanforgeError):
    """The server could not be reached (refused, DNS, timeout) even after retries."""


class ApiError(GanforgeError):
    """An answer of 4xx or 5xx, with its RFC 9457 problem details.

    `type` is the full problem type URI; `code` its last segment (`validation-error`,
    `unknown-model`, ...), stable enough to branch on. `errors` lists failing fields for
    validation errors ({"field", "message", "type"}).
    """

    def __init__(self, status: int, problem: dict[str, Any], *, headers: httpx.Headers | None = None) -> None:
        self.status = status
        self.problem = problem
        self.type: str = str(problem.get("type", "about:blank"))
        self.title: str = str(problem.get("title", httpx.codes.get_reason_phrase(status) or "error"))
        self.detail: str = str(problem.get("detail", ""))
        self.instance: str | None = problem.get("instance")
        self.errors: list[dict[str, Any]] = list(problem.get("errors") or [])
        self.headers = headers or httpx.Headers()
        super().__init__(str(self))

    @property
    def code(self) -> str:
        return self.type.rstrip("/").rsplit("/", 1)[-1]

    @property
    def retry_after(self) -> float | None:
        from ganforge._retry import retry_after_seconds

        return retry_after_seconds(self.headers.get("Retry-After"))

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail or self.title}"


class BadRequest(ApiError):
    """400 and other 4xx without a class of their own."""


class Unauthorized(ApiError):
    """401/403: no API key, a wrong one, or one without the scope this call needs."""


class NotFound(ApiError):
    """404: unknown job, model, dataset or output (or one that belongs to someone else)."""


class Conflict(ApiError):
    """409: the resource is in a state that refuses this (a finished job, an alias in use)."""


class Gone(ApiError):
    """410: an output expired from the result cache; submit the job again."""


class PayloadTooLarge(ApiError):
    """413: an upload or an image over the server's limits."""


class ValidationFailed(ApiError):
    """422: the request was understood but is not valid; `errors` names each field."""


class RateLimited(ApiError):
    """429 after the retries ran out (the queue stayed full)."""


class ServerError(ApiError):
    """5xx other than 503."""


class Unavailable(ServerError):
    """503 after the retries ran out: Redis or the broker is away."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized, 403: Unauthorized, 404: NotFound, 409: Conflict, 410: Gone, 413: PayloadTooLarge,
    422: ValidationFailed, 429: RateLimited, 503: Unavailable,
}


def error_for(response: httpx.Response) -> ApiError:
    """The exception for an error answer, from its problem+json body (or what the body was)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text[:500] if response.content else ""
        body = {"title": response.reason_phrase, "detail": text or response.reason_phrase}
    cls = _BY_STATUS.get(response.status_code) or (ServerError if response.status_code >= 500 else BadRequest)
    return cls(response.status_code, body, headers=response.headers)


class JobFailed(GanforgeError):
    """A job ended `failed` (or `canceled`, see JobCanceled); `job` is its final record."""

    def __init__(self, job: Job) -> None:
        self.job = job
        error = job.error
        self.type = error.type if error else "unknown"
        self.detail = error.detail if error else f"job {job.id} ended {job.status}"
        super().__init__(f"job {job.id} ({job.kind}) {job.status}: {self.type}: {self.detail}")


class JobCanceled(JobFailed):
    """A job ended `canceled`."""

    def __init__(self, job: Job) -> None:
        GanforgeError.__init__(self, f"job {job.id} ({job.kind}) was canceled")
        self.job = job
        self.type = "canceled"
        self.detail = "the job was canceled"


class WaitTimeout(GanforgeError):
    """A wait ran out before the job finished; `job` is the record as it last stood."""

    def __init__(self, job: Job, timeout_s: float | None) -> None:
        self.job = job
        super().__init__(f"job {job.id} still {job.status} after {timeout_s or 0:g} s")
