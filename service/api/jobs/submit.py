"""Creating a job and queueing it: backpressure, the record and its message, coalescing."""

import threading
import uuid

from service.api import job_index
from service.api.caller import current_owner
from service.api.errors import Problem
from service.api.jobs.coalescer import Coalescer
from service.api.state import ApiState
from service.core.job_store import utcnow
from service.core.jobs import Job, JobKind, JobStatus, JobWebhook, ModelRef
from service.core.queue import execute_with_message
from service.core.routing import (
    COALESCED_KINDS,
    Route,
    coalesced_task,
    route_of,
)


def new_job_id() -> str:
    return uuid.uuid4().hex


def check_queue_depth(state: ApiState, queue: str, depth: int | None = None) -> None:
    """Backpressure: past the bound, a client is told to come back rather than wait in a long line.
    `depth`: the queue's length when the caller already read it (`queue_depth_now`)."""
    depth = state.redis.llen(queue) if depth is None else depth
    if depth >= state.settings.max_queue_depth:
        raise Problem(
            429, "queue-full", "Too many queued jobs",
            f"the {queue} queue holds {depth} jobs (limit {state.settings.max_queue_depth}); retry later",
            headers={"Retry-After": "2"},
        )


async def queue_depth_now(state: ApiState, kind: JobKind) -> int:
    """The length of `kind`'s queue, read on the event loop (alongside another read, to save the
    worker thread a round trip)."""
    return await state.hub.redis.llen(route_of(kind).queue)


def enqueue(state: ApiState, *, kind: JobKind, model: ModelRef | None, params: dict,
            task_kwargs: dict | None = None, webhook: JobWebhook | None = None, route: Route | None = None,
            queue_depth: int | None = None) -> Job:
    route = route or route_of(kind)  # or the one `routing.route_by_size` chose
    task, queue = route.task, route.queue
    check_queue_depth(state, queue, queue_depth)
    job = Job(
        id=new_job_id(), kind=kind, status=JobStatus.queued, model=model, params=params, created_at=utcnow(),
        webhook=webhook, owner=current_owner(),
    )

    def record(pipe) -> None:  # the job, how it is queued (for the reaper) and its owner's index
        state.jobs.stage_create(pipe, job, task={"name": task, "queue": queue, "kwargs": task_kwargs or {}})
        job_index.record(pipe, job, state.settings.job_ttl_s)

    coalescer = _coalescer(state) if kind in COALESCED_KINDS and route == route_of(kind) else None
    if coalescer is not None:  # one message for the jobs that arrive together (service/api/jobs/coalescer.py)
        with _coalescer_lock:
            _in_flight.add(job.id)
            in_flight = len(_in_flight)
        try:
            coalescer.submit(coalesced_task(kind), queue, job.id, task_kwargs or {}, record, in_flight)
        except BaseException:
            _in_flight.discard(job.id)  # not accepted: no answer will take it off
            raise
    else:  # the job and its message in one MULTI/EXEC: neither lands without the other
        pipe = state.redis.pipeline()
        record(pipe)
        execute_with_message(pipe, state.celery, task, args=[job.id], kwargs=task_kwargs or {}, queue=queue)
    return job


_coalescer_lock = threading.Lock()
_in_flight: set[str] = set()  # coalesced jobs this process accepted and has not answered yet


def _coalescer(state: ApiState) -> Coalescer | None:
    """The process's coalescer, sized like the workers' batches; none while batching is off."""
    if state.settings.max_batch_size <= 1 or not state.settings.coalesce:
        return None
    coalescer = getattr(state, "coalescer", None)
    if coalescer is None:
        with _coalescer_lock:
            coalescer = getattr(state, "coalescer", None)
            if coalescer is None:
                coalescer = Coalescer(state.celery, state.redis, max_jobs=state.settings.max_batch_size,
                                      window_ms=state.settings.max_batch_delay_ms)
                state.coalescer = coalescer
    return coalescer
