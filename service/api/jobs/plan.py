"""What a checked request asks for (`JobPlan`), what submitting it gives back (`Submitted`), and the
writes that record a new job: the same for every kind of job."""

import uuid
from dataclasses import dataclass
from typing import Any

from service.api import job_index
from service.api.state import ApiState
from service.core.jobs import Job, JobKind, JobWebhook, ModelRef
from service.core.routing import Route, route_of


@dataclass
class JobPlan:
    """A request checked against its model version: what to compute and where to queue it."""

    kind: JobKind
    model: ModelRef | None
    params: dict[str, Any]
    digest: str | None = None  # a deterministic request's key in the result cache (jobs/cache.py)
    webhook: JobWebhook | None = None
    task_kwargs: dict[str, Any] | None = None
    route: Route | None = None  # None: the kind's own (`routing.route_by_size` may choose another)
    inputs: dict[str, bytes] | None = None  # SHA-256 -> bytes the worker reads, stored with the job's record

    @property
    def queue_route(self) -> Route:
        return self.route or route_of(self.kind)


@dataclass
class Submitted:
    job: Job
    picture: bytes | None = None  # the bytes of `answer.picture_output(job)`, when asked for with a cache hit


def new_job_id() -> str:
    return uuid.uuid4().hex


def stage_new_job(state: ApiState, pipe: Any, job: Job, task: dict[str, Any] | None = None) -> None:
    """A new job's record (with `task`, how it is queued), and its place in its owner's list."""
    state.jobs_async.stage_create(pipe, job, task)
    job_index.record(pipe, job, state.settings.job_ttl_s)
