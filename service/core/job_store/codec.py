"""How a job lives in Redis, spelled once for both sides of the store: the encoding of a record's
fields and events, their decoding, and the writes that create a record or store outputs.

The writes are *staged*: each function queues its commands on a pipeline the caller holds, a
redis-py one (the workers, the API's threads) or a `redis.asyncio` one (the API's event loop).
Queueing a command is the same call on both, so the key layout and the encoding exist once and
each side only executes the pipeline its own way.
"""

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from service.core import keys
from service.core.jobs import Job, JobOutput, JobStatus

EVENTS_MAXLEN = 1000
# A finished job's events move from their stream into its record's `history` field (scripts.py
# _MOVE): a Redis stream costs ~4.7 KB however short (its first node is preallocated at 4 KB, and
# XTRIM frees none of it), the same few entries as one field ~150 bytes. A training keeps its
# stream: its progress history is long, charted by its client, and trainings are few; so does any
# job with more than FOLD_MAX_EVENTS events (an evaluation's progress), for which a stream is
# no dearer than the same entries as JSON.
STREAM_KEPT_KINDS = ("train",)
FOLD_MAX_EVENTS = 16
HISTORY_FIELD = "history"


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- encoding ---------------------------------------------------------------------------------------


def encode_fields(fields: dict[str, Any]) -> dict[str, str]:
    """A record's fields as the hash stores them: each value as JSON, so one changes alone."""
    return {name: json.dumps(value, default=json_default) for name, value in fields.items()}


def event_fields(event: str, data: Any) -> dict[str, str]:
    """One entry of a job's event stream."""
    return {"event": event, "data": json.dumps(data, default=json_default)}


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__}")


def cache_entry(job_id: str, outputs: list[JobOutput], metrics: dict[str, Any], owner: str | None) -> str:
    """A result-cache entry: the job that made the answer, its outputs (blobs) and figures."""
    return json.dumps({"job_id": job_id, "owner": owner, "outputs": [o.model_dump() for o in outputs],
                       "metrics": metrics})


def output_entries(job_id: str, items: list[tuple[str, bytes, str]]) -> list[JobOutput]:
    """The job's entries for (name, bytes, content type) outputs, each named by its SHA-256."""
    return [JobOutput(name=name, url=f"/jobs/{job_id}/outputs/{name}", content_type=content_type, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest()) for name, data, content_type in items]


# -- decoding ---------------------------------------------------------------------------------------


def decode_record(raw: dict[bytes, bytes]) -> Job | None:
    """A record read with HGETALL (None: there is none)."""
    return Job.model_validate({k.decode(): json.loads(v) for k, v in raw.items()}) if raw else None


def decode_status(raw: bytes | None) -> JobStatus | None:
    return JobStatus(json.loads(raw)) if raw else None


def decode_field(raw: bytes | None) -> Any:
    """One field of a record read with HGET (None: no record, or no such field)."""
    return json.loads(raw) if raw else None


def decode_events(answer: Any) -> list[tuple[str, str, Any]]:
    """An XREAD answer on one job's stream as (entry id, event, data)."""
    if not answer:
        return []
    return [(entry_id.decode(), fields[b"event"].decode(), json.loads(fields[b"data"]))
            for entry_id, fields in answer[0][1]]


def decode_history(raw: bytes | None, after: str) -> list[tuple[str, str, Any]]:
    """A finished job's folded events (its record's `history`: [[id, event, data], ...]) after the
    stream id `after`, as `decode_events` answers them."""
    if not raw:
        return []
    floor = stream_id(after)
    return [(entry_id, event, data) for entry_id, event, data in json.loads(raw) if stream_id(entry_id) > floor]


def stream_id(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def cache_blobs(entry: dict[str, Any]) -> list[str]:
    """The blob keys a result-cache entry needs: it answers only while all of them are there."""
    return sorted({keys.blob(o["sha256"]) for o in entry["outputs"] if not o.get("stored")})  # stored: in the artifact store


def stored_digests(entry: dict[str, Any]) -> list[str]:
    """The outputs of a result-cache entry that live in the artifact store, by SHA-256."""
    return sorted({o["sha256"] for o in entry["outputs"] if o.get("stored")})


# -- staged writes (on a sync or an asyncio pipeline) -------------------------------------------


def stage_create(pipe: Any, job: Job, ttl_s: int, task: dict[str, Any] | None = None) -> None:
    """A new job's record and first event; with `task` ({name, queue, kwargs}) how it is queued,
    so the reaper can queue it again, and its place among the queued jobs."""
    # Fields at their defaults stay out of the hash: absent reads the same (the model's defaults), and
    # each costs ~90 bytes in it, more when one more field doubles its table (a job's four: ~480).
    fields = encode_fields(job.model_dump(mode="json", exclude_defaults=True))
    if job.status.is_terminal and job.kind not in STREAM_KEPT_KINDS:  # born finished (a cache hit): no stream
        first = f"{int(job.created_at.timestamp() * 1000)}-0"
        fields[HISTORY_FIELD] = json.dumps([[first, "status", job.status.value]])
    pipe.hset(keys.job(job.id), mapping=fields)
    pipe.expire(keys.job(job.id), ttl_s)
    if HISTORY_FIELD not in fields:
        pipe.xadd(keys.job_events(job.id), event_fields("status", job.status.value), maxlen=EVENTS_MAXLEN)
        pipe.expire(keys.job_events(job.id), ttl_s)
    if task is not None:
        pipe.set(keys.job_task(job.id), json.dumps(task), ex=ttl_s)
        pipe.zadd(keys.QUEUED, {job.id: time.time()})


def stage_blob(pipe: Any, data: bytes, ttl_s: int, sha256: str | None = None) -> str:
    """Bytes under their SHA-256 (`sha256`, when the caller has it already); answers the digest."""
    digest = sha256 or hashlib.sha256(data).hexdigest()
    pipe.set(keys.blob(digest), data, ex=ttl_s)
    return digest


def stage_outputs(pipe: Any, outputs: list[JobOutput], items: list[tuple[str, bytes, str]], ttl_s: int) -> None:
    """The bytes of `output_entries(job_id, items)`, but for those kept in the artifact store."""
    for output, (_, data, _) in zip(outputs, items, strict=True):
        if output.stored:
            continue
        pipe.set(keys.blob(output.sha256), data, ex=ttl_s)
