"""The result cache: a deterministic request's key, and a repeat answered from Redis without a worker."""

import hashlib
import json
from typing import Any

from service.api.caller import current_owner
from service.api.jobs.answer import keeps_output, picture_output
from service.api.jobs.plan import JobPlan, Submitted, new_job_id, stage_new_job
from service.api.state import ApiState
from service.core.job_store import AtomicBatch, utcnow
from service.core.jobs import Job, JobKind, JobOutput, JobStatus, JobWebhook, ModelRef
from service.core.queue import execute_with_message_async
from service.core.routing import WEBHOOK_ROUTE


def request_digest(kind: JobKind, model: ModelRef, params: dict[str, Any]) -> str:
    """Key of a deterministic request in the result cache."""
    canonical = json.dumps({"kind": kind, "model": model.model_dump(), "params": params}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def answer_from_cache(state: ApiState, plan: JobPlan, raw: bytes, *, with_picture: bool) -> Submitted | None:
    """The caller's own finished job from the cache entry `raw` (read with the request's first
    round trip), or None when one of its blobs is gone. Two round trips: whether its blobs are
    there (and, `with_picture`, the picture's bytes, which a one-call answer would fetch next);
    the new job's record and index (and, for a webhook, its report)."""
    entry = json.loads(raw)
    job = cached_job(plan.kind, plan.model, plan.params, entry, plan.webhook)
    shown = picture_output(job) if with_picture else None
    there, picture = await state.jobs_async.cache_check(entry, fetch=shown.sha256 if shown else None)
    if not there:
        return None  # evicted under memory pressure: compute again
    # Born finished: its record and index as one command (job_store/batch.py).
    writes = AtomicBatch(state.redis_async)
    stage_new_job(state, writes, job)
    if not with_picture or keeps_output():  # its outputs live the result cache's TTL from now, wherever they came from
        state.jobs_async.stage_keep(writes, plan.digest, entry, state.settings.output_ttl_s)
    if job.webhook is not None and job.webhook.wants("completed"):
        # No worker ran it, so nobody else reports its end; by name, as the API imports no task code.
        await execute_with_message_async(writes, state.celery, WEBHOOK_ROUTE.task,
                                         kwargs={"job": job.model_dump(mode="json"), "event": "completed"})
    else:
        await writes.execute()
    return Submitted(job, picture)


def cached_job(kind: JobKind, model: ModelRef, params: dict, entry: dict, webhook: JobWebhook | None) -> Job:
    """The caller's own finished job answering from a cache entry."""
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
