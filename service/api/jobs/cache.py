"""The result cache: a deterministic request's key, and a repeat answered from Redis without a worker."""

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool

from service.api import job_index
from service.api.caller import current_owner
from service.api.jobs.answer import picture_output
from service.api.jobs.submit import new_job_id
from service.api.metrics import count_cache_lookup
from service.api.state import ApiState
from service.core import keys
from service.core.job_store import cache_blobs, utcnow
from service.core.jobs import Job, JobKind, JobOutput, JobStatus, JobWebhook, ModelRef
from service.core.routing import WEBHOOK_ROUTE


def request_digest(kind: JobKind, model: ModelRef, params: dict[str, Any]) -> str:
    """Key of a deterministic request in the result cache."""
    canonical = json.dumps({"kind": kind, "model": model.model_dump(), "params": params}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
