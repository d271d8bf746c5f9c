"""The life of a job inside a worker, the same for every kind of task.

Take the lease, move queued -> running (a canceled job stops here), do the work, and move
running -> succeeded or failed. If the job was canceled meanwhile, the last transition loses
and the result is dropped. Errors in the work end up in the job body, never lost in a log.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from celery import Task, current_app, shared_task

from service.core.job_store import JobStore, utcnow
from service.core.jobs import Job, JobError, JobKind, JobOutput, JobStatus
from service.core.logs import job_logging
from service.core.redis_clients import NotReplicated, one_connection
from service.core.routing import COALESCED_KINDS, coalesced_task, route_of
from workers.context import WorkerContext, worker_context
from workers.crash_for_tests import crash_if_told
from workers.lease import (
    LeaseTaken,
    hold_lease,
    keep_leases,
    lease_owner,
    stop_renewing,
)
from workers.outage import REDIS_DOWN, StoreUnavailable, best_effort, ride_out
from workers.shutdown import WorkerStopping
from workers.webhooks import notify

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    outputs: list[JobOutput] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    # Store writes that belong to the job's end (its outputs' bytes), sent in the same round trip
    # as the status change and ahead of it.
    writes: Callable[[Any], None] | None = None


class JobFailed(Exception):
    """A failure the client should see with a stable type (bad input found late, model error)."""

    def __init__(self, type_: str, detail: str):
        super().__init__(detail)
        self.type = type_
        self.detail = detail


def job_task(kind: JobKind) -> Callable:
    """Make `work(context, job, **task_kwargs) -> JobResult` the Celery task of `kind`.

    Every task is acknowledged late and rejected when its worker dies, so the broker delivers it
    again; `run_job` then holds the lease, moves the status and maps failures onto the job.
    """

    def register(work: Callable[..., JobResult]):
        @shared_task(name=route_of(kind).task, bind=True, acks_late=True, reject_on_worker_lost=True)
        def task(self: Task, job_id: str, **task_kwargs: Any) -> None:
            context: WorkerContext = worker_context(self.app)
            run_job(context.jobs, job_id, context.settings.lease_ttl_s, lambda job: work(context, job, **task_kwargs),
                    outage_bound_s=context.settings.outage_bound_s)

        task.__doc__ = work.__doc__
        if kind in COALESCED_KINDS:
            @shared_task(name=coalesced_task(kind), bind=True, acks_late=True, reject_on_worker_lost=True)
            def many(self: Task, job_ids: list[str], each: list[dict] | None = None) -> None:
                """Several jobs the API sent as one message (service/api/jobs/coalescer.py)."""
                context: WorkerContext = worker_context(self.app)
                each = each or [{} for _ in job_ids]
                run_jobs(context, [(job_id, partial(_work_on, work, context, kwargs, len(job_ids)))
                                   for job_id, kwargs in zip(job_ids, each)])

        return task

    return register


def _work_on(work: Callable[..., JobResult], context: WorkerContext, kwargs: dict, message_jobs: int,
             job: Job) -> JobResult:
    result = work(context, job, **kwargs)
    result.metrics.setdefault("message_jobs", message_jobs)  # how many jobs its Celery message carried
    return result


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _job_pool(context: WorkerContext) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(context.settings.max_batch_size, 1) * 2, thread_name_prefix="job")
    return _pool


def run_jobs(context: WorkerContext, jobs: list[tuple[str, Callable[[Job], JobResult]]]) -> None:
    """Run each job as `run_job` does, all at once: their images meet in the model's batcher.
    The message's leases and starts take one round trip for all its jobs, not per job, so the
    jobs also reach the batcher together. Returns when every one has ended, so the message
    is acknowledged after all of them."""
    store, settings = context.jobs, context.settings
    owner, started = _take(store, [job_id for job_id, _ in jobs], settings.lease_ttl_s, settings.outage_bound_s)
    released: set[str] = set()  # jobs whose end let go of their lease in the same call
    runs = [partial(_run_logged, store, started[job_id], work, settings.outage_bound_s, (owner, released))
            for job_id, work in jobs if job_id in started]
    with keep_leases(store, list(started), owner, settings.lease_ttl_s, released):
        # The last one in this thread: a lone job (every job at concurrency 1) then costs no hand-off.
        futures = [_job_pool(context).submit(run) for run in runs[:-1]]
        for wait in [*runs[-1:], *(future.result for future in futures)]:
            _logging_lost_ends(wait)


def _logging_lost_ends(run: Callable[[], Any]) -> None:
    try:
        run()
    except Exception:  # the work's failures are mapped onto the job; this is Redis gone past the bound
        log.exception("a coalesced job ended without its status written")


def _take(store: JobStore, job_ids: list[str], ttl_s: int, outage_bound_s: float) -> tuple[str, dict[str, Job]]:
    """Lease and start the jobs of one message; answers the lease owner and the jobs to run."""
    receipts = getattr(current_app, "ganforge_receipts", None)
    if receipts is not None:
        receipts.taken(job_ids)  # being taken: the take's own writes say more than a receipt would
    owner = lease_owner()
    answers = ride_out(lambda: store.take_many(job_ids, owner, ttl_s, started_at=utcnow(), runner=runner_of(owner)),
                       outage_bound_s, "taking the jobs")
    started, idle, elsewhere = {}, [], []
    for job_id, answer in zip(job_ids, answers):
        if answer is None:
            elsewhere.append(job_id)
            continue
        with job_logging(job_id):
            if _may_run(*answer):
                started[job_id] = answer[1]
            else:
                idle.append(job_id)
    if elsewhere:
        log.info("another worker holds jobs %s; leaving them", ", ".join(sorted(elsewhere)))
    best_effort(lambda: store.release_leases(idle, owner), "releasing the leases")
    return owner, started


def _run_logged(store: JobStore, job: Job, work: Callable[[Job], JobResult], outage_bound_s: float,
                lease: tuple[str, set[str]] | None = None) -> Job | None:
    with job_logging(job.id):
        return _run_started(store, job, work, outage_bound_s, lease)


def run_job(store: JobStore, job_id: str, lease_ttl_s: int, work: Callable[[Job], JobResult], *,
            outage_bound_s: float = 120.0) -> Job | None:
    """Run `work` on the job once; answers the finished job when someone is to be told of it
    (a webhook), else None. Redis being away for up to `outage_bound_s` is ridden out."""
    with job_logging(job_id):
        try:
            with hold_lease(store, job_id, lease_ttl_s, outage_bound_s=outage_bound_s) as owner:
                found, job = ride_out(lambda: store.start(job_id, started_at=utcnow(), runner=runner_of(owner)),
                                      outage_bound_s, "starting the job")
                return _run_started(store, job, work, outage_bound_s) if _may_run(found, job) else None
        except LeaseTaken:
            log.info("another worker holds this job; leaving it")
            return None


def runner_of(lease_owner: str) -> str:
    """The worker process named by a lease owner (`host:pid:thread`): its presence id, `host:pid`,
    kept on the job as `runner` so the reaper can say how that process ended if it dies."""
    return lease_owner.rpartition(":")[0]


def _may_run(found: JobStatus | None, job: Job | None) -> bool:
    # From `running` too: a job whose worker died is delivered again and the lease proved it free.
    if found in (JobStatus.queued, JobStatus.running):
        return True
    log.info("job is %s; not running it", found)
    if found == JobStatus.canceled:  # canceled while queued: nobody else reports its end
        notify(current_app, job, "completed")
    return False


def _run_started(store: JobStore, job: Job, work: Callable[[Job], JobResult], outage_bound_s: float,
                 lease: tuple[str, set[str]] | None = None) -> Job | None:
    """`lease`: (its owner, the set of jobs whose lease their end let go of) to let go of the
    job's lease in the call that ends it; None when the caller lets go of it itself."""
    job_id = job.id
    notify(current_app, job, "start")  # the app of the task running this job
    crash_if_told(job)  # tests only: a poison job
    started = time.perf_counter()
    finish = partial(_finish, store, job_id, outage_bound_s=outage_bound_s, lease=lease)
    try:
        result = _work_through_outages(store, job, work, outage_bound_s)
    except WorkerStopping:
        _hand_back(store, job, lease, outage_bound_s)
        return None
    except JobFailed as failure:
        finish(JobStatus.failed, error=JobError(type=failure.type, detail=failure.detail))
    except StoreUnavailable as gone:
        finish(JobStatus.failed, error=JobError(type="store-unavailable", detail=str(gone)))
    except Exception as error:
        log.exception("job failed")
        finish(JobStatus.failed, error=JobError(type="internal", detail=f"{type(error).__name__}: {error}"))
    else:
        result.metrics.setdefault("run_s", round(time.perf_counter() - started, 4))
        result.metrics.setdefault("worker", f"{socket.gethostname()}:{os.getpid()}")  # as in its presence record
        finish(JobStatus.succeeded, outputs=result.outputs, metrics={**job.metrics, **result.metrics},
               before=result.writes)
    if job.webhook is None:
        return None  # nobody to tell; skip reading the record back
    finished = best_effort(lambda: store.get(job_id), "reading the finished job")
    if finished is None:
        return None
    notify(current_app, finished, "completed")  # succeeded, failed, or canceled while it ran
    return finished


def _hand_back(store: JobStore, job: Job, lease: tuple[str, set[str]] | None, outage_bound_s: float) -> None:
    """The worker is stopping before the job could end (workers/shutdown.py): running -> queued,
    its lease let go of in the same call, and its message sent again for another worker, which
    resumes it (a training from its newest checkpoint). This task's message is then acknowledged."""
    # run_job holds the lease from this thread; a coalesced message's runner names its owner.
    owner = lease[0] if lease is not None else lease_owner()
    stop_renewing(job.id, owner)  # before the release: a renewal after it would take the lease back
    if lease is not None:
        lease[1].add(job.id)
    if not ride_out(lambda: store.hand_back(job.id, owner), max(outage_bound_s, 1.0), "handing the job back"):
        log.info("job ended meanwhile (canceled); not handing it back")
        return
    task = store.get_task(job.id)
    if task is None:  # queued before the store kept how (an old job): the reaper's audit finds it
        log.warning("the worker is stopping; job handed back, but how it was queued is unknown")
        return
    current_app.send_task(task["name"], args=[job.id], kwargs=task["kwargs"], queue=task["queue"])
    log.info("the worker is stopping; job handed back to queue %s for another worker", task["queue"])


def _work_through_outages(store: JobStore, job: Job, work: Callable[[Job], JobResult], bound_s: float) -> JobResult:
    """`work(job)`, run again once Redis answers if it failed because Redis was away (its writes
    are idempotent: outputs are content-addressed, a training resumes from its checkpoint)."""
    deadline = time.monotonic() + bound_s
    while True:
        try:
            return work(job)
        except REDIS_DOWN as error:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreUnavailable(f"the job store (Redis) was unreachable for more than {bound_s:g} s "
                                       f"while the job ran: {error}") from error
            time.sleep(min(1.0, left))  # a full Redis still answers PING: don't spin on the work
            ride_out(store.redis.ping, left, "waiting to run the job again")


def _finish(store: JobStore, job_id: str, status: JobStatus, *, outage_bound_s: float = 120.0,
            before: Callable[[Any], None] | None = None, lease: tuple[str, set[str]] | None = None,
            **fields: Any) -> None:
    owner = lease[0] if lease is not None else None
    # The job's end must not be lost: ride out an outage; past the bound, say so in the log. The
    # lease is renewed until the end lands (an outage may outlast its TTL), and let go of with it.
    found = ride_out(lambda: _end_replicated(store, lambda on: on.finish(job_id, status, finished_at=utcnow(),
                                                                          before=before, release=owner, **fields)),
                     max(outage_bound_s, 1.0), f"recording the job as {status.value}")
    if lease is not None:
        # A beat already on its way may take the lease back for one TTL: the job has ended, so
        # that only makes a late redelivery of its message leave it, as it would anyway.
        stop_renewing(job_id, owner)
        lease[1].add(job_id)
    if found not in (JobStatus.running, status):  # `status`: our own end, written before a failover
        log.info("job became %s while it ran; its %s result is dropped", found, status.value)


def _end_replicated(store: JobStore, end: Callable[[JobStore], JobStatus | None]) -> JobStatus | None:
    """`end(store)`, and, while the primary has a replica, a WAIT for it on the same connection,
    so the job's message is acknowledged only after its end would survive a failover. A replica
    too slow is logged, not waited for without end: the end is on the primary all the same."""
    context = getattr(current_app, "ganforge_context", None)  # a worker's; none in a bare test
    if context is None or context.replication.needed(store.redis) == 0:  # one Redis: nothing to wait for
        return end(store)
    with one_connection(store.redis) as connection:
        found = end(JobStore(connection, job_ttl_s=store.job_ttl_s, output_ttl_s=store.output_ttl_s))
        try:
            context.replication.wait(connection)
        except NotReplicated as shortfall:
            log.warning("the job's end is on the primary, not yet on a replica: %s", shortfall)
    return found
