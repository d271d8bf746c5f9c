"""Coalescing: concurrent short jobs for one queue leave the API as one Celery message.

Celery's cost is per message (publish, the worker's receive, unacked bookkeeping and ack: about
half the worker's interpreter time in issue 13's profile), and a message carrying one job also
hands the worker's batcher one request at a time. So jobs of a coalesced kind wait here, per
task and queue, for company: the first job of a bucket starts a window of `window_ms`, and the
bucket leaves as one message to the kind's `.many` task when the window closes, it holds
`max_jobs` ids, or it holds every job this process has in flight (nobody else can join: a
closed-loop client waits for its answer). So a lone client never pays the window.

Every job keeps its own record, task entry (the reaper requeues it alone), lease, outputs,
cache entry and webhook: the message only carries the ids and each job's task arguments.
"""

import logging
import threading
import time
from dataclasses import dataclass, field

from celery import Celery

log = logging.getLogger(__name__)


@dataclass
class _Bucket:
    job_ids: list[str] = field(default_factory=list)
    each: list[dict] = field(default_factory=list)
    deadline: float = 0.0


class Coalescer:
    def __init__(self, celery: Celery, *, max_jobs: int, window_ms: float):
        self.celery = celery
        self.max_jobs = max_jobs
        self.window_s = window_ms / 1000
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._wake = threading.Condition()
        self.messages_sent = 0
        self.jobs_sent = 0
        threading.Thread(target=self._loop, name="coalescer", daemon=True).start()

    def submit(self, task: str, queue: str, job_id: str, kwargs: dict, in_flight: int = 1) -> None:
        """Queue the job: now, with the jobs already waiting for `task`, or within the window.
        `in_flight`: the jobs this process has accepted and not yet answered, this one included."""
        ready = None
        with self._wake:
            bucket = self._buckets.setdefault((task, queue), _Bucket())
            bucket.job_ids.append(job_id)
            bucket.each.append(kwargs)
            if len(bucket.job_ids) >= min(self.max_jobs, in_flight):
                ready = self._take(bucket)
            elif len(bucket.job_ids) == 1:
                bucket.deadline = time.monotonic() + self.window_s
                self._wake.notify()
        if ready is not None:
            self._send(task, queue, *ready)

    def _take(self, bucket: _Bucket) -> tuple[list[str], list[dict]]:
        taken = bucket.job_ids, bucket.each
        bucket.job_ids, bucket.each = [], []
        return taken

    def _send(self, task: str, queue: str, job_ids: list[str], each: list[dict]) -> None:
        self.celery.send_task(task, args=[job_ids], kwargs={"each": each}, queue=queue)
        self.messages_sent += 1
        self.jobs_sent += len(job_ids)

    def _loop(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [(key, self._take(b)) for key, b in self._buckets.items() if b.job_ids and b.deadline <= now]
                if not due:
                    waiting = [b.deadline for b in self._buckets.values() if b.job_ids]
                    self._wake.wait(max(0.0, min(waiting) - now) if waiting else None)
                    continue
            for (task, queue), (job_ids, each) in due:
                try:
                    self._send(task, queue, job_ids, each)
                except Exception:  # the broker is away: the jobs stay queued, their waits time out
                    log.exception("sending %d coalesced jobs to %s", len(job_ids), task)
