"""Creating a job, queueing it, and answering with it: the same for every kind of job."""

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from service.api import job_index
from service.api.caller import current_owner
from service.api.coalescer import Coalescer
from service.api.errors import Problem
from service.api.metrics import count_cache_lookup
from service.api.state import ApiState
from service.core import keys
from service.core.job_store import cache_blobs, utcnow
from service.core.jobs import Job, JobKind, JobOutput, JobStatus, JobWebhook, ModelRef
from service.core.queue import execute_with_message
from service.core.routing import (
    COALESCED_KINDS,
    WEBHOOK_ROUTE,
    Route,
    coalesced_task,
    route_of,
)


def request_digest(kind: JobKind, model: ModelRef, params: dict[str, Any]) -> str:
    """Key of a deterministic request in the result cache."""
    canonical = json.dumps({"kind": kind, "model": model.model_dump(), "params": params}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_job_id() -> str:
    return uuid.uuid4().hex


def answer_from_cache(state: ApiState, kind: JobKind, model: ModelRef, params: dict, digest: str,
                      webhook: JobWebhook | None = None) -> Job | None:
    """A finished job built from the result cache, without a worker, or None on a miss."""
    entry = state.jobs.cache_get(digest)
    count_cache_lookup(state, kind, entry is not None)
    if entry is None:
        return None
    job = cached_job(kind, model, params, entry, webhook)
    state.jobs.create(job, also=partial(job_index.record, job=job, ttl_s=state.settings.job_ttl_s))
    if _reports_end(job):
        _report_end(state, job)
    return job


@dataclass
class CacheHit:
    job: Job
    picture: bytes | None = None  # the bytes of `picture_output(job)`, when asked for with the hit


async def answer_from_cache_now(state: ApiState, kind: JobKind, model: ModelRef, params: dict, digest: str,
                                webhook: JobWebhook | None = None, *, with_picture: bool = False) -> CacheHit | None:
    """`answer_from_cache` on the event loop's own Redis client: a hit takes no thread, and three
    round trips — the entry; whether its blobs are there (and, `with_picture`, the picture's
    bytes, which a one-call answer would fetch next); the new job's record and index."""
    client = state.hub.redis
    raw = await client.get(keys.result_cache(digest))
    hit = None
    if raw is not None:
        entry = json.loads(raw)
        hit = CacheHit(cached_job(kind, model, params, entry, webhook))
        checks = client.pipeline(transaction=False)
        if blobs := cache_blobs(entry):
            checks.exists(*blobs)
        shown = picture_output(hit.job) if with_picture else None
        if shown is not None:
            checks.get(keys.blob(shown.sha256))
        answers = await checks.execute()
        if blobs and answers[0] != len(blobs):
            hit = None  # evicted under memory pressure: compute again
        elif shown is not None:
            hit.picture = answers[-1]
    count_cache_lookup(state, kind, hit is not None)
    if hit is None:
        return None
    # Born finished, so no reader races these writes: no MULTI/EXEC needed around them.
    writes = client.pipeline(transaction=False)
    state.jobs.stage_create(writes, hit.job)
    job_index.record(writes, hit.job, state.settings.job_ttl_s)
    await writes.execute()
    if _reports_end(hit.job):
        await run_in_threadpool(_report_end, state, hit.job)
    return hit


def picture_output(job: Job) -> JobOutput | None:
    """The output a one-call answer shows: the grid when there is one, else the first picture."""
    pictures = [o for o in job.outputs if o.content_type.startswith("image/")]
    grids = [o for o in pictures if o.name.startswith("grid.")]
    return (grids or pictures or [None])[0]


def cached_job(kind: JobKind, model: ModelRef, params: dict, entry: dict, webhook: JobWebhook | None) -> Job:
    """The caller's own finished job answering from a cache entry (`JobStore.cache_get`'s)."""
    job_id = new_job_id()
    now = utcnow()
    outputs = [
        JobOutput(**{**output, "url": f"/jobs/{job_id}/outputs/{output['name']}"}) for output in entry["outputs"]
    ]
    owner = current_owner()
    metrics = dict(entry["metrics"])
    if owner is not None and entry.get("owner") == owner:
        metrics["cached_from"] = entry["job_id"]  # the caller's own earlier job; never another owner's
    return Job(
        id=job_id, kind=kind, status=JobStatus.succeeded, model=model, params=params,
        created_at=now, started_at=now, finished_at=now, outputs=outputs,
        metrics=metrics, cached=True, webhook=webhook, owner=owner,
    )


def _reports_end(job: Job) -> bool:
    return job.webhook is not None and job.webhook.wants("completed")


def _report_end(state: ApiState, job: Job) -> None:
    # No worker ran it, so nobody else reports its end; by name, as the API imports no task code.
    state.celery.send_task(WEBHOOK_ROUTE.task, kwargs={"job": job.model_dump(mode="json"), "event": "completed"})


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
    if coalescer is not None:  # one message for the jobs that arrive together (service/api/coalescer.py)
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


async def job_answer(state: ApiState, job: Job, response: Response, wait_s: float | None) -> Job:
    """202 with Location for a job still under way; 200 once it is finished (`Prefer: wait=N`).

    The wait is capped at `max_wait_s`, and `Preference-Applied` says the wait applied. It holds
    no thread: the process's event hub wakes it when the job's stream grows.
    """
    try:
        if wait_s and not job.status.is_terminal:
            applied = min(wait_s, state.settings.max_wait_s)
            job = await state.hub.wait(job.id, applied) or job
            response.headers["Preference-Applied"] = f"wait={applied:g}"
    finally:
        _in_flight.discard(job.id)  # answered (or gone): its client no longer waits to be coalesced with
    response.headers["Location"] = f"/jobs/{job.id}"
    response.status_code = 200 if job.status.is_terminal else 202
    return job
