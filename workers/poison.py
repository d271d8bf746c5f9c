"""Poison jobs: a job that kills the worker running it (a native crash in ONNX Runtime, an
out-of-memory kill) would otherwise be sent again by the reaper, kill the next worker, and so on.

Every start of a job counts a delivery on its record (`deliveries`); when the reaper finds a run
lost with its worker it counts that run once (`QueueBook.count_lost_run`: once per delivery,
however many reapers see it, however often the job waits in a queue). At `max_deliveries` lost
runs the job fails as `worker-crashed` and is never sent again; the failure names how the last
worker ended when its supervisor said (service/local/stack.py writes keys.worker_exit), and the
model version is counted in /metrics (`ganforge_jobs_worker_crashed`) and logged.

A training that a graceful shutdown requeued lost no run: only deaths count.
"""

import logging

from celery import Celery

from service.core.job_store import JobStore, utcnow
from service.core.jobs import Job, JobError, JobStatus
from service.core.logs import job_logging
from service.core.metrics import WORKER_CRASHED, count_now
from workers.webhooks import notify

log = logging.getLogger(__name__)

ERROR_TYPE = "worker-crashed"


def model_label(job: Job) -> str:
    return f"{job.model.name}:{job.model.version}" if job.model is not None else ""


def last_chance_spent(store: JobStore, app: Celery, job: Job, max_deliveries: int) -> bool:
    """Count the job's run as lost with its worker; when that makes `max_deliveries`, fail the job
    as `worker-crashed` and answer True (the caller must not send it again)."""
    lost = store.count_lost_run(job.id)
    if lost < max_deliveries:
        return False
    runner = store.runner(job.id)
    how = store.worker_exit(runner) if runner else None
    detail = f"the worker running it stopped {lost} times" + (f"; the last one ended with {how}" if how else "")
    found = store.finish(job.id, JobStatus.failed, finished_at=utcnow(),
                         error=JobError(type=ERROR_TYPE, detail=detail))
    if found != JobStatus.running:
        return True  # ended meanwhile (canceled): nothing to send either
    with job_logging(job.id):
        log.error("job %s (%s on %s) failed as %s: %s; it is not sent again", job.id, job.kind, model_label(job),
                  ERROR_TYPE, detail)
    count_now(store.redis, WORKER_CRASHED, {"kind": job.kind, "model": model_label(job)})
    finished = store.get(job.id)
    if finished is not None:
        notify(app, finished, "completed")
    return True
