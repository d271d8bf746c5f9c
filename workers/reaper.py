"""Requeue jobs whose worker died, in seconds rather than after the broker's visibility timeout.

Two kinds of orphan:

- A job marked running whose lease lapsed lost its worker (SIGKILL, OOM, a lost machine): a
  running job's worker renews its lease every third of `lease_ttl_s`. The lease must be seen
  missing on two rounds in a row, so a worker that was cut off from Redis for a while gets a
  beat to take its lease back (workers/lease.py) before anyone else runs the job. A job whose
  worker died running it `max_deliveries` times fails instead (workers/poison.py).
- A job still queued whose message a dead worker had fetched (Celery prefetches; the message
  then sits in the broker's unacked set until `visibility_timeout`, an hour). Workers note each
  job message they receive (`JobStore.note_received_all`, queued by the `task_received` signal
  and written off the consumer's thread by workers/receipts.py); a queued job noted by a worker
  whose presence key is gone is sent again.

Any live worker's reaper does this; `claim_requeue` makes it one of them per orphan, and the
lease makes sure that, whatever the broker redelivers later, a job never runs twice at once: the
job runner leaves a job that is finished or held by someone else.

Each round also sweeps expired outputs from the artifact store and packs the records of jobs that
ended a minute ago (service/core/job_store/compaction.py): housekeeping any live worker may do.
"""

import base64
import json
import logging
import threading
import time

from celery import Celery

from models.artifacts.outputs import OutputStore
from service.core import keys
from service.core.job_store import JobStore, stored_outputs
from service.core.job_store.compaction import RecordPacker
from service.core.jobs import JobStatus
from service.core.presence import live_workers
from service.core.routing import ALL_QUEUES, COALESCED_KINDS, ROUTES, coalesced_task
from workers.poison import last_chance_spent

log = logging.getLogger(__name__)

JOB_TASKS = {route.task for route in ROUTES.values()} | {coalesced_task(kind) for kind in COALESCED_KINDS}
UNNOTED_GRACE_S = 10.0
# kombu's Redis transport keeps a queue's messages in a list named after it, and the messages a
# consumer fetched and has not acknowledged in the `unacked` hash ([message, exchange, key]).
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"


def _claim(store: JobStore, job_id: str, lease_ttl_s: int) -> dict | None:
    """How the orphan was queued, when this reaper is the one to requeue it (None: not this one)."""
    task = store.get_task(job_id)
    if task is None or not store.claim_requeue(job_id, lease_ttl_s):
        return None
    return task


def _send(app: Celery, job_id: str, task: dict, why: str) -> None:
    log.warning("job %s %s; queueing it again", job_id, why)
    app.send_task(task["name"], args=[job_id], kwargs=task["kwargs"], queue=task["queue"])


def _requeue(store: JobStore, app: Celery, job_id: str, lease_ttl_s: int, why: str) -> bool:
    if (task := _claim(store, job_id, lease_ttl_s)) is None:
        return False
    _send(app, job_id, task, why)
    return True


def reap_running(store: JobStore, app: Celery, lease_ttl_s: int, suspects: set[str], *,
                 max_deliveries: int = 3) -> tuple[list[str], set[str]]:
    """Requeue running jobs whose lease was missing last round too, but fail those whose worker died
    running them `max_deliveries` times (workers/poison.py); answers (requeued, missing now)."""
    requeued, missing = [], set()
    for job_id in store.running_without_lease():
        job = store.get(job_id)
        if job is None or job.status != JobStatus.running:
            store.forget_running(job_id)
            continue
        if job_id not in suspects:
            missing.add(job_id)  # give its worker one beat to take the lease back
            continue
        if (task := _claim(store, job_id, lease_ttl_s)) is None or last_chance_spent(store, app, job, max_deliveries):
            continue
        _send(app, job_id, task, "lost its worker")
        requeued.append(job_id)
    return requeued, missing


def reap_fetched(store: JobStore, app: Celery, lease_ttl_s: int) -> list[str]:
    """Requeue queued jobs whose message a worker that is no longer alive had fetched."""
    received = store.received()
    if not received:
        return []
    alive = {worker["id"] for worker in live_workers(store.redis)}
    job_ids = list(received)
    requeued, done = [], []
    for job_id, status, leased in zip(job_ids, store.statuses(job_ids), store.leased(job_ids)):
        worker = received[job_id]
        if status != JobStatus.queued:
            done.append(job_id)  # started (the lease covers it from here), finished, or expired
        elif worker in alive or leased:
            continue  # alive; or it died between taking the lease and starting: wait for the lease to lapse
        elif _requeue(store, app, job_id, lease_ttl_s, f"was fetched by {worker}, now gone"):
            done.append(job_id)
            requeued.append(job_id)
    store.forget_received(*done)
    return requeued


def job_ids_of(message: dict) -> list[str]:
    """The job ids a broker message of one of our job tasks carries (none for other tasks)."""
    try:
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (ValueError, KeyError, IndexError, TypeError):
        return []
    if message.get("headers", {}).get("task") not in JOB_TASKS or not args:
        return []
    return args[0] if isinstance(args[0], list) else [args[0]]  # a coalesced message carries several


def unacked_unnoted(store: JobStore, grace_s: float) -> list[str]:
    """Jobs whose message has sat in the broker's unacked set for over `grace_s` without any
    worker noting it: the worker popped it and died before its `task_received` ran (a live one
    notes it within milliseconds)."""
    client = store.redis
    tags = client.zrangebyscore(UNACKED_INDEX, 0, time.time() - grace_s)
    if not tags:
        return []
    noted = store.received()
    found = []
    for raw in client.hmget(UNACKED, tags):
        if raw is not None:
            found.extend(job_id for job_id in job_ids_of(json.loads(raw)[0]) if job_id not in noted)
    return found


def jobs_in_broker(store: JobStore) -> set[str]:
    """Every job named by a message waiting in a queue or fetched and unacknowledged, read in one
    transaction: a message moving from a queue to `unacked` meanwhile is seen in one or the other."""
    pipe = store.redis.pipeline(transaction=True)
    for queue in ALL_QUEUES:
        pipe.lrange(queue, 0, -1)
    pipe.hvals(UNACKED)
    *queued, unacked = pipe.execute()
    messages = [json.loads(raw) for waiting in queued for raw in waiting]
    messages += [json.loads(raw)[0] for raw in unacked]
    return {job_id for message in messages for job_id in job_ids_of(message)}


def reap_lost(store: JobStore, app: Celery, lease_ttl_s: int, grace_s: float) -> list[str]:
    """Requeue jobs queued for over `grace_s` whose message is nowhere: in no queue, fetched by
    no worker. A message caught between a live worker's pop and its unacked record looks lost
    too; sending it again costs a duplicate delivery, which the lease and the status leave idle."""
    stale = store.queued_before(time.time() - grace_s)
    if not stale:
        return []
    statuses = store.statuses(stale)
    store.forget_queued(*(job_id for job_id, status in zip(stale, statuses) if status != JobStatus.queued))
    suspects = [job_id for job_id, status in zip(stale, statuses) if status == JobStatus.queued]
    if not suspects:
        return []
    fetched = store.received()  # reap_fetched's to look after
    suspects = [job_id for job_id, leased in zip(suspects, store.leased(suspects)) if not leased and job_id not in fetched]
    if not suspects:
        return []
    in_broker = jobs_in_broker(store)
    return [job_id for job_id in suspects
            if job_id not in in_broker and _requeue(store, app, job_id, lease_ttl_s, "has no message in the broker")]


def reap_unnoted(store: JobStore, app: Celery, lease_ttl_s: int, grace_s: float) -> list[str]:
    unnoted = unacked_unnoted(store, grace_s)
    return [job_id for job_id, status in zip(unnoted, store.statuses(unnoted))
            if status == JobStatus.queued
            and _requeue(store, app, job_id, lease_ttl_s, "was fetched by a worker that died at once")]


def reap_once(store: JobStore, app: Celery, lease_ttl_s: int, suspects: set[str] | None = None, *,
              lost_grace_s: float | None = None, max_deliveries: int = 3) -> list[str]:
    """One round; `suspects` carries the running jobs found without a lease from round to round.
    With `lost_grace_s`, the round also looks for jobs whose message is nowhere (`reap_lost`)."""
    suspects = set() if suspects is None else suspects
    requeued, missing = reap_running(store, app, lease_ttl_s, set(suspects), max_deliveries=max_deliveries)
    suspects.clear()
    suspects.update(missing)
    return (requeued + reap_fetched(store, app, lease_ttl_s) + reap_unnoted(store, app, lease_ttl_s, UNNOTED_GRACE_S)
            + (reap_lost(store, app, lease_ttl_s, lost_grace_s) if lost_grace_s is not None else []))


def sweep_stored_outputs(store: JobStore, objects: OutputStore, *, limit: int = 100) -> list[str]:
    """Delete the artifact store's outputs whose time has passed (and that no later job pushed);
    answers their digests. Claimed in Redis first, so any live reaper may sweep, and one object is
    deleted once; a worker writing the same bytes meanwhile waits for the delete
    (service/core/job_store/stored_outputs.py)."""
    due = stored_outputs.claim_expired(store.redis, limit=limit)
    left = list(due)
    try:
        while left:
            objects.delete(left[0])
            left.pop(0)
    finally:
        if left:  # the store was away: back in the set, already due, for the next round
            store.redis.zadd(keys.STORED_OUTPUTS, dict.fromkeys(left, time.time()), gt=True)
        stored_outputs.swept(store.redis, due)
    if due:
        log.info("swept %d expired outputs from the artifact store", len(due))
    return due


class Reaper:
    def __init__(self, store: JobStore, app: Celery, lease_ttl_s: int, interval_s: float | None = None, *,
                 lost_grace_s: float = 60.0, max_deliveries: int = 3, outputs: OutputStore | None = None,
                 records: RecordPacker | None = None):
        self.store, self.app, self.lease_ttl_s, self.lost_grace_s = store, app, lease_ttl_s, lost_grace_s
        self.max_deliveries = max_deliveries
        self.outputs = outputs  # the store of large outputs, swept each round
        self.records = records  # packs finished records, each round
        self.interval_s = interval_s or max(1.0, lease_ttl_s / 3)
        self._suspects: set[str] = set()
        self._next_audit = 0.0  # reading every queue is dearer than a round: twice per grace at most
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="reaper", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            audit = time.monotonic() >= self._next_audit
            if audit:
                self._next_audit = time.monotonic() + self.lost_grace_s / 2
            try:
                reap_once(self.store, self.app, self.lease_ttl_s, self._suspects,
                          lost_grace_s=self.lost_grace_s if audit else None, max_deliveries=self.max_deliveries)
            except Exception:  # Redis away for a moment: look again next round
                log.exception("reaper round failed")
            if self.outputs is not None:
                try:
                    sweep_stored_outputs(self.store, self.outputs)
                except Exception:  # the store or Redis away: what was not deleted is swept next round
                    log.exception("sweeping expired outputs failed")
            if self.records is not None:
                try:
                    self.records.pass_once()
                except Exception:  # Redis away: what was claimed stays unpacked (whole), the rest is due next round
                    log.exception("packing finished records failed")
