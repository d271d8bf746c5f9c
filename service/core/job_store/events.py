"""A job's event stream: every change to a job is appended to it, and announced on the events
channel, so `Prefer: wait` and SSE follow a job without polling.

When a job (other than a training) ends, its entries move into its record's `history` field and
the stream goes (scripts.py _MOVE): readers here answer from either, with the same ids, so a
client reading a finished job's events, or resuming with Last-Event-ID, sees what it would have."""

import time
from typing import Any

from service.core import keys
from service.core.job_store.base import AsyncPart, SyncPart
from service.core.job_store.codec import (
    EVENTS_MAXLEN,
    HISTORY_FIELD,
    PACKED_FIELD,
    decode_events,
    decode_history,
    decode_record,
    encode_fields,
    event_fields,
)
from service.core.jobs import Job, JobStatus

MAX_BLOCK_MS = 1000
READ_COUNT = 100
HISTORY_READ = (HISTORY_FIELD, PACKED_FIELD)  # a finished job's events: its history, or the packed record holding it


class JobEvents(SyncPart):
    def update(self, job_id: str, event: str, data: Any = None, **fields: Any) -> None:
        """Write fields of a running job (progress, outputs) and announce them as `event`, whose
        data is `data` when given, else the fields."""
        pipe = self.redis.pipeline()
        pipe.hset(keys.job(job_id), mapping=encode_fields(fields))
        pipe.xadd(keys.job_events(job_id), event_fields(event, fields if data is None else data), maxlen=EVENTS_MAXLEN)
        pipe.publish(keys.EVENTS_CHANNEL, job_id)  # wakes the API's waiters (service/api/event_hub.py)
        pipe.execute()

    def emit(self, job_id: str, event: str, data: Any) -> None:
        """Announce an event that changes nothing in the record (a checkpoint was written)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(keys.job_events(job_id), event_fields(event, data), maxlen=EVENTS_MAXLEN)
        pipe.publish(keys.EVENTS_CHANNEL, job_id)
        pipe.execute()

    def events(self, job_id: str, after: str = "0-0", block_ms: int | None = None) -> list[tuple[str, str, Any]]:
        """Events after the stream id `after`: (id, event, data), waiting up to block_ms for one.

        A wait is cut to MAX_BLOCK_MS: a blocking read longer than the client's socket timeout
        would look like a dead Redis. Callers loop.
        """
        folded = self._folded(job_id, after)
        if folded:  # the job has ended: its stream is gone
            return folded
        block = None if block_ms is None else max(1, min(block_ms, MAX_BLOCK_MS))
        events = decode_events(self.redis.xread({keys.job_events(job_id): after}, block=block))
        if not events and block is not None:  # it may have ended while we waited
            return self._folded(job_id, after)
        return events

    def _folded(self, job_id: str, after: str) -> list[tuple[str, str, Any]]:
        history, packed = self.redis.hmget(keys.job(job_id), HISTORY_READ)
        return decode_history(history, after, packed)

    def wait(self, job_id: str, timeout_s: float) -> Job | None:
        """The job once it is terminal, or as it stands when `timeout_s` runs out."""
        deadline = time.monotonic() + timeout_s
        after = "0-0"  # from the start of the stream: an end that came before this call still counts
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return decode_record(self.redis.hgetall(keys.job(job_id)))
            events = self.events(job_id, after, block_ms=remaining_ms)
            if not events and not self.redis.exists(keys.job(job_id)):
                return None
            for entry_id, event, data in events:
                after = entry_id
                if event == "status" and JobStatus(data).is_terminal:
                    return decode_record(self.redis.hgetall(keys.job(job_id)))


class AsyncJobEvents(AsyncPart):
    async def read(self, job_id: str, after: str) -> list[tuple[str, str, Any]]:
        """Entries after `after`, without blocking: (id, event, data), from the stream or, once
        the job has ended, its record's history (one round trip for both)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.xread({keys.job_events(job_id): after}, count=READ_COUNT)
        pipe.hmget(keys.job(job_id), HISTORY_READ)
        streamed, (folded, packed) = await pipe.execute()
        return decode_events(streamed) or decode_history(folded, after, packed)
