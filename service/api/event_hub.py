"""Job events for `Prefer: wait` and SSE without a thread or a blocking Redis read per waiter.

Every change the job store makes to a job's event stream is also PUBLISHed (the job id on one
channel, `keys.EVENTS_CHANNEL`, followed by the new status when the status changed). Each API
process keeps ONE subscription to that channel and wakes the waiters of the job named: an SSE
stream on every event (it reads the new entries with a non-blocking XREAD on the async client
and goes back to sleep), a `Prefer: wait` only when the job has ended (it then reads the record
once). An idle stream or a pending wait is then an asyncio task and an Event, not a thread held
in a blocking XREAD.

An end's announcement also carries the finished record (a JSON object of the hash's fields, as
the status script read it when it wrote the end), so a waiter answers without reading it back.
The process that queued a job `expect`s it, before the job can end: its wait then starts asleep,
with no read of the status (the job is queued: this process just wrote it so), and an end
announced before the wait began is kept for it.

Pub/sub is best effort (a message published while the subscription reconnects is lost), so a
waiter also looks at its stream every `RECHECK_S` on its own, and every waiter is woken when the
subscription comes back.
"""

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError

from service.core import keys
from service.core.job_store import AsyncJobStore
from service.core.jobs import Job, JobStatus

log = logging.getLogger(__name__)

RECHECK_S = 5.0
MAX_EXPECTED = 10_000


class EventHub:
    def __init__(self, jobs: AsyncJobStore):
        self.jobs = jobs
        self.redis = jobs.redis
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)  # SSE: every event
        self._enders: dict[str, set[asyncio.Event]] = defaultdict(set)  # waits: the end only
        # Jobs this process queued and will answer: job id -> the end announced (its record's JSON),
        # None while none was, "" when one may have been lost (the subscription came back).
        self._expected: dict[str, str | None] = {}
        # The record announced with a watched job's end, for its waiters.
        self._ends: dict[str, str] = {}
        self._task: asyncio.Task | None = None

    # -- the one subscription of this process -------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(keys.EVENTS_CHANNEL)
                    self._wake_all()  # whatever was published while we were away
                    backoff = 0.1
                    while True:
                        # With a timeout: a quiet channel is not an error; the health check PINGs.
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10.0)
                        if message is not None and message["type"] == "message":
                            job_id, _, rest = message["data"].decode().partition(" ")
                            status, _, record = rest.partition(" ")
                            self._wake(job_id, status, record)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                log.info("event subscription lost (%s); again in %.1f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _wake(self, job_id: str, status: str = "", record: str = "") -> None:
        """`status`: the JSON of the job's new status, "" for an event that changed none; `record`:
        with an end, the finished record's fields as a JSON object ("" if not told)."""
        for event in self._waiters.get(job_id, ()):
            event.set()
        if status and JobStatus(json.loads(status)).is_terminal:
            if record:
                if job_id in self._expected:
                    self._expected[job_id] = record
                if job_id in self._enders:
                    self._ends[job_id] = record
            for event in self._enders.get(job_id, ()):
                event.set()

    def expect(self, job_id: str) -> None:
        """This process just queued the job and will wait for it (`wait`), or let it go (`forget`):
        from now on its end is kept for that wait."""
        self._expected[job_id] = None
        while len(self._expected) > MAX_EXPECTED:  # a job nobody waited for: its answer went another way
            del self._expected[next(iter(self._expected))]

    def forget(self, job_id: str) -> None:
        self._expected.pop(job_id, None)

    def _wake_all(self) -> None:
        for job_id, end in self._expected.items():
            if end is None:
                self._expected[job_id] = ""  # an end may have gone unannounced: its wait reads the status
        for table in (self._waiters, self._enders):
            for events in table.values():
                for event in events:
                    event.set()

    @contextmanager
    def _watch(self, job_id: str, table: dict[str, set[asyncio.Event]] | None = None) -> Iterator[asyncio.Event]:
        table = self._waiters if table is None else table
        event = asyncio.Event()
        table[job_id].add(event)
        try:
            yield event
        finally:
            waiters = table.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del table[job_id]

    @property
    def waiting(self) -> int:
        return sum(len(events) for table in (self._waiters, self._enders) for events in table.values())

    def held(self) -> dict[str, int]:
        """What this hub holds, by table: each is back to 0 once every request is answered and every
        stream closed (/metrics shows them as `ganforge_api_held`)."""
        return {"event waiters": self.waiting, "jobs expected": len(self._expected), "ends announced": len(self._ends)}

    # -- reading ------------------------------------------------------------------------------

    async def read(self, job_id: str, after: str) -> list[tuple[str, str, Any]]:
        """Entries after `after`, without blocking: (id, event, data)."""
        return await self.jobs.read(job_id, after)

    async def follow(self, job_id: str, after: str, idle_s: float) -> AsyncIterator[list[tuple[str, str, Any]]]:
        """Batches of new entries after `after` as they come; an empty batch after `idle_s` of
        quiet (time for a keep-alive, or to give up)."""
        with self._watch(job_id) as woken:
            quiet = 0.0
            while True:
                woken.clear()  # before reading: an event published from here on wakes us again
                entries = await self.read(job_id, after)
                if entries:
                    after = entries[-1][0]
                    quiet = 0.0
                    yield entries
                    continue
                if quiet >= idle_s:
                    quiet = 0.0
                    yield []
                    continue
                nap = min(RECHECK_S, idle_s - quiet)
                try:
                    await asyncio.wait_for(woken.wait(), nap)
                except TimeoutError:
                    quiet += nap

    async def get(self, job_id: str) -> Job | None:
        return await self.jobs.get(job_id)

    async def status(self, job_id: str) -> JobStatus | None:
        return await self.jobs.status(job_id)

    async def wait(self, job_id: str, timeout_s: float) -> Job | None:
        """The job once it is terminal, or as it stands when `timeout_s` runs out. It sleeps
        through the job's start and progress: one read of the status before it sleeps, and the
        record once the end is announced (the announcement names the final status, so reading
        the status again would only cost a round trip on the answer's path)."""
        end = self._expected.get(job_id, "")
        if end:  # it ended before this wait began
            del self._expected[job_id]
            return _announced(end)
        expected = end is None
        with self._watch(job_id, self._enders) as ended:
            self._expected.pop(job_id, None)  # from here on the watch keeps its end
            try:
                async with asyncio.timeout(timeout_s):
                    # A job this process just queued is queued: no need to read that back.
                    status = JobStatus.queued if expected else await self.status(job_id)
                    while status is not None and not status.is_terminal:
                        try:
                            await asyncio.wait_for(ended.wait(), RECHECK_S)
                        except TimeoutError:  # a lost announcement: look again
                            status = await self.status(job_id)
                            continue
                        ended.clear()  # an end announced from here on wakes us again
                        record = self._ends.pop(job_id, None)
                        job = _announced(record) if record else await self.get(job_id)
                        if job is None or job.status.is_terminal:
                            return job
                        status = job.status  # woken for a re-delivered job that runs again: sleep on
                    if status is None:
                        return None  # expired or never was
            except TimeoutError:
                pass
            finally:
                if job_id not in self._enders or not self._enders[job_id] - {ended}:
                    self._ends.pop(job_id, None)
        return await self.get(job_id)


def _announced(record: str) -> Job:
    """The finished job from the record its end's announcement carried."""
    return Job.model_validate({name: json.loads(value) for name, value in json.loads(record).items()})
