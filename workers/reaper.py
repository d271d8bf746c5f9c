"""Requeue jobs whose worker died, in seconds rather than after the broker's visibility timeout.

Two kinds of orphan:

- A job marked running whose lease lapsed lost its worker (SIGKILL, OOM, a lost machine): a
  running job's worker renews its lease every third of `lease_ttl_s`. The lease must be seen
  missing on two rounds in a row, so a worker that was cut off from Redis for a while gets a
  beat to take its lease back (workers/lease.py) before anyone else runs the job.
- A job still queued whose message a dead worker had fetched (Celery prefetches; the message
  then sits in the broker's unacked set until `visibility_timeout`, an hour). Workers note each
  job message they receive (`JobStore.note_received`, from the `task_received` signal); a queued
  job noted by a worker whose presence key is gone is sent again.

Any live worker's reaper does this; `claim_requeue` makes it one of them per orphan, and the
lease makes sure that, whatever the broker redelivers later, a job never runs twice at once: the
job runner leaves a job that is finished or held by someone else.
"""

import base64
import json
import logging
import threading
import time

from celery import Celery

from service.core.job_store import JobStore
from service.core.jobs import JobStatus
from service.core.presence import live_workers
from service.core.routing import COALESCED_KINDS, ROUTES, coalesced_task

log = logging.getLogger(__name__)

JOB_TASKS = {route.task for route in ROUTES.values()} | {coalesced_task(kind) for kind in COALESCED_KINDS}
UNNOTED_GRACE_S = 10.0


def _requeue(store: JobStore, app: Celery, job_id: str, lease_ttl_s: int, why: str) -> bool:
    task = store.get_task(job_id)
    if task is None or not store.claim_requeue(job_id, lease_ttl_s):
        return False
    log.warning("job %s %s; queueing it again", job_id, why)
    app.send_task(task["name"], args=[job_id], kwargs=task["kwargs"], queue=task["queue"])
    return True


def reap_running(store: JobStore, app: Celery, lease_ttl_s: int, suspects: set[str]) -> tuple[list[str], set[str]]:
    """Requeue running jobs whose lease was missing last round too; answers (requeued, missing now)."""
    requeued, missing = [], set()
    for job_id in store.running_without_lease():
        job = store.get(job_id)
        if job is None or job.status != JobStatus.running:
            store.forget_running(job_id)
            continue
        if job_id not in suspects:
            missing.add(job_id)  # give its worker one beat to take the lease back
            continue
        if _requeue(store, app, job_id, lease_ttl_s, "lost its worker"):
            requeued.append(job_id)
    return requeued, missing


def reap_fetched(store: JobStore, app: Celery, lease_ttl_s: int) -> list[str]:
    """Requeue queued jobs whose message a worker that is no longer alive had fetched."""
    received = store.received()
    if not received:
        return []
    alive = {worker["id"] for worker in live_workers(store.redis)}
    requeued, done = [], []
    for job_id, worker in received.items():
        status = store.status(job_id)
        if status != JobStatus.queued:
            done.append(job_id)  # started (the lease covers it from here), finished, or expired
        elif worker not in alive and _requeue(store, app, job_id, lease_ttl_s, f"was fetched by {worker}, now gone"):
            done.append(job_id)
            requeued.append(job_id)
    store.forget_received(*done)
    return requeued


def unacked_unnoted(store: JobStore, grace_s: float) -> list[str]:
    """Jobs whose message has sat in the broker's unacked set (kombu's `unacked` hash and
    `unacked_index`) for over `grace_s` without any worker noting it: the worker popped it and
    died before its `task_received` ran (a live one notes it within milliseconds)."""
    client = store.redis
    tags = client.zrangebyscore("unacked_index", 0, time.time() - grace_s)
    if not tags:
        return []
    noted = store.received()
    found = []
    for raw in client.hmget("unacked", tags):
        if raw is None:
            continue
        try:
            message = json.loads(raw)[0]
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
        except (ValueError, KeyError, IndexError, TypeError):
            continue
        if message.get("headers", {}).get("task") in JOB_TASKS and args:
            job_ids = args[0] if isinstance(args[0], list) else [args[0]]  # a coalesced message carries several
            found.extend(job_id for job_id in job_ids if job_id not in noted)
    return found


def reap_unnoted(store: JobStore, app: Celery, lease_ttl_s: int, grace_s: float) -> list[str]:
    return [job_id for job_id in unacked_unnoted(store, grace_s)
            if store.status(job_id) == JobStatus.queued
            and _requeue(store, app, job_id, lease_ttl_s, "was fetched by a worker that died at once")]


def reap_once(store: JobStore, app: Celery, lease_ttl_s: int, suspects: set[str] | None = None) -> list[str]:
    """One round; `suspects` carries the running jobs found without a lease from round to round."""
    suspects = set() if suspects is None else suspects
    requeued, missing = reap_running(store, app, lease_ttl_s, set(suspects))
    suspects.clear()
    suspects.update(missing)
    return requeued + reap_fetched(store, app, lease_ttl_s) + reap_unnoted(store, app, lease_ttl_s, UNNOTED_GRACE_S)


class Reaper:
    def __init__(self, store: JobStore, app: Celery, lease_ttl_s: int, interval_s: float | None = None):
        self.store, self.app, self.lease_ttl_s = store, app, lease_ttl_s
        self.interval_s = interval_s or max(1.0, lease_ttl_s / 3)
        self._suspects: set[str] = set()
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="reaper", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                reap_once(self.store, self.app, self.lease_ttl_s, self._suspects)
            except Exception:  # Redis away for a moment: look again next round
                log.exception("reaper round failed")
