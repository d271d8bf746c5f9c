"""Coalescing: concurrent short jobs for one queue leave the API as one Celery message.

Celery's cost is per message (publish, the worker's receive, unacked bookkeeping and ack: about
half the worker's interpreter time in issue 13's profile), and a message carrying one job also
hands the worker's batcher one request at a time. So jobs of a coalesced kind wait here, per
task and queue, for company: the first job of a bucket starts a window of `window_ms`, and the
bucket leaves as one message to the kind's `.many` task when the window closes, it holds
`max_jobs` ids, or it holds every job this process has in flight (nobody else can join: a
closed-loop client waits for its answer). So a lone client never pays the window.

Every job keeps its own record, task entry (the reaper requeues it alone), lease, outputs,
cache entry and webhook: the message only carries the ids and each job's task arguments. The
jobs' records are written with their message, in one MULTI/EXEC: one round trip for the bucket,
and no job is ever recorded as queued without a message that names it.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Celery

from service.core.queue import execute_with_message

Stage = Callable[[Any], None]  # queues a job's record on a pipeline


@dataclass
class _Bucket:
    job_ids: list[str] = field(default_factory=list)
    each: list[dict] = field(default_factory=list)
    records: list[Stage] = field(default_factory=list)
    deadline: float = 0.0
    sent: Future = field(default_factory=Future)  # resolved once the jobs' records and message are in Redis


class Coalescer:
    def __init__(self, celery: Celery, client: redis.Redis, *, max_jobs: int, window_ms: float):
        self.celery = celery
        self.redis = client
        self.max_jobs = max_jobs
        self.window_s = window_ms / 1000
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._wake = threading.Condition()
        self.messages_sent = 0
        self.jobs_sent = 0
        threading.Thread(target=self._loop, name="coalescer", daemon=True).start()

    def submit(self, task: str, queue: str, job_id: str, kwargs: dict, record: Stage, in_flight: int = 1) -> None:
        """Queue the job, with the jobs already waiting for `task`, now or within the window, and
        return once its record (`record` queues it on a pipeline) and its message are in Redis
        (raising what the write raised): a 202 still means the job was recorded and sent.
        `in_flight`: the jobs this process has accepted and not yet answered, this one included."""
        ready = None
        with self._wake:
            bucket = self._buckets.setdefault((task, queue), _Bucket())
            bucket.job_ids.append(job_id)
            bucket.each.append(kwargs)
            bucket.records.append(record)
            sent = bucket.sent
            if len(bucket.job_ids) >= min(self.max_jobs, in_flight):
                ready = self._take(bucket)
            elif len(bucket.job_ids) == 1:
                bucket.deadline = time.monotonic() + self.window_s
                self._wake.notify()
        if ready is not None:
            self._send(task, queue, *ready)
        sent.result(timeout=self.window_s + 60)

    def _take(self, bucket: _Bucket) -> tuple[list[str], list[dict], list[Stage], Future]:
        taken = bucket.job_ids, bucket.each, bucket.records, bucket.sent
        bucket.job_ids, bucket.each, bucket.records, bucket.sent = [], [], [], Future()
        return taken

    def _send(self, task: str, queue: str, job_ids: list[str], each: list[dict], records: list[Stage],
              sent: Future) -> None:
        try:
            pipe = self.redis.pipeline()
            for record in records:
                record(pipe)
            # A short repr: Celery would otherwise render the arguments for its logs on every publish.
            execute_with_message(pipe, self.celery, task, args=[job_ids], kwargs={"each": each}, queue=queue,
                                 argsrepr=f"[{len(job_ids)} jobs]", kwargsrepr="{each}")
        except Exception as error:  # every job of the message fails its request, as a lone publish would
            sent.set_exception(error)
            return
        self.messages_sent += 1
        self.jobs_sent += len(job_ids)
        sent.set_result(None)

    def _loop(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [(key, self._take(b)) for key, b in self._buckets.items() if b.job_ids and b.deadline <= now]
                if not due:
                    waiting = [b.deadline for b in self._buckets.values() if b.job_ids]
                    self._wake.wait(max(0.0, min(waiting) - now) if waiting else None)
                    continue
            for (task, queue), taken in due:
                self._send(task, queue, *taken)
