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

It lives on the event loop: a bucket is a list and a timer, a waiting job an asyncio future.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from celery import Celery

from service.core.queue import execute_with_message_async

Stage = Callable[[Any], None]  # queues a job's record on a pipeline


@dataclass
class _Bucket:
    sent: asyncio.Future  # resolved once the jobs' records and message are in Redis
    job_ids: list[str] = field(default_factory=list)
    each: list[dict] = field(default_factory=list)
    records: list[Stage] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Coalescer:
    def __init__(self, celery: Celery, client: aioredis.Redis, *, max_jobs: int, window_ms: float):
        self.celery = celery
        self.redis = client
        self.max_jobs = max_jobs
        self.window_s = window_ms / 1000
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._in_flight: set[str] = set()  # coalesced jobs accepted and not answered yet
        self._sending: set[asyncio.Task] = set()
        self.messages_sent = 0
        self.jobs_sent = 0

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def answered(self, job_id: str) -> None:
        """The job's client has its answer (or is gone): it no longer waits to be coalesced with."""
        self._in_flight.discard(job_id)

    async def submit(self, task: str, queue: str, job_id: str, kwargs: dict, record: Stage) -> None:
        """Queue the job, with the jobs already waiting for `task`, now or within the window, and
        return once its record (`record` queues it on a pipeline) and its message are in Redis
        (raising what the write raised): a 202 still means the job was recorded and sent. The job
        counts as in flight until `answered`."""
        self._in_flight.add(job_id)
        try:
            key = (task, queue)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(asyncio.get_running_loop().create_future())
                bucket.sent.add_done_callback(_retrieved)
            bucket.job_ids.append(job_id)
            bucket.each.append(kwargs)
            bucket.records.append(record)
            sent = bucket.sent
            if len(bucket.job_ids) >= min(self.max_jobs, len(self._in_flight)):
                self._dispatch(key)
            elif len(bucket.job_ids) == 1:
                bucket.timer = asyncio.get_running_loop().call_later(self.window_s, self._dispatch, key)
            await asyncio.shield(sent)  # a client gone does not take its bucket's message with it
        except BaseException:
            self._in_flight.discard(job_id)  # not accepted, or nobody waits: no answer will take it off
            raise

    def _dispatch(self, key: tuple[str, str]) -> None:
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            return
        if bucket.timer is not None:
            bucket.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._send(*key, bucket))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, task: str, queue: str, bucket: _Bucket) -> None:
        try:
            pipe = self.redis.pipeline(transaction=True)
            for record in bucket.records:
                record(pipe)
            # A short repr: Celery would otherwise render the arguments for its logs on every publish.
            await execute_with_message_async(pipe, self.celery, task, args=[bucket.job_ids],
                                             kwargs={"each": bucket.each}, queue=queue,
                                             argsrepr=f"[{len(bucket.job_ids)} jobs]", kwargsrepr="{each}")
        except Exception as error:  # every job of the message fails its request, as a lone publish would
            bucket.sent.set_exception(error)
            return
        self.messages_sent += 1
        self.jobs_sent += len(bucket.job_ids)
        bucket.sent.set_result(None)


def _retrieved(future: asyncio.Future) -> None:
    """Mark a failed send's error as seen even when every client of the bucket has gone."""
    if not future.cancelled():
        future.exception()
