"""What a flow asks its driver to do: send one HTTP request (`Call`) or follow a job to its end
(`WaitFor`). Flows (ganforge/_flows.py) are written once as generators; the sync and the async
client each drive them with their own I/O."""

import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ganforge.progress import JobProgress

IDEMPOTENCY_HEADER = "Idempotency-Key"  # the header service/api/idempotency.py reads
JOB_ID_HEADER = "GANForge-Job-Id"  # names the job when the answer is an image's bytes
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart body: its bytes, or a path read afresh on every try."""

    filename: str
    source: bytes | Path
    content_type: str = "application/octet-stream"


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, FilePart] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    read_timeout_s: float | None = None  # for calls that wait on the server (`Prefer: wait`)

    @property
    def retry_safe(self) -> bool:
        """A lost connection may be retried: reads, and creates the server deduplicates."""
        return self.method in SAFE_METHODS or IDEMPOTENCY_HEADER in self.headers

    def timeout(self, default: httpx.Timeout) -> httpx.Timeout:
        if self.read_timeout_s is None:
            return default
        return httpx.Timeout(default.connect, read=self.read_timeout_s, write=default.write, pool=default.pool)


@dataclass
class WaitFor:
    """Follow job `job_id` (its SSE stream) until it ends; the driver answers the final Job."""

    job_id: str
    timeout_s: float | None
    progress: JobProgress | None = None


T = TypeVar("T")
Flow = Generator[Call | WaitFor, Any, T]


def create_headers(idempotency_key: str | bool | None, **extra: str) -> dict[str, str]:
    """Headers of a request that creates a job: an Idempotency-Key unless turned off (False)."""
    headers = {k.replace("_", "-"): v for k, v in extra.items() if v is not None}
    if idempotency_key is not False:
        headers[IDEMPOTENCY_HEADER] = idempotency_key if isinstance(idempotency_key, str) else uuid.uuid4().hex
    return headers
