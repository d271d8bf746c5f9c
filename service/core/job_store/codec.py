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
import zlib
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

# A finished record is packed a minute after its end (compaction.py): its fields as one JSON object,
# deflated against PACKING_DICTIONARY, in the one field PACKED_FIELD. A small job's ~1 KB of fields
# packs to ~150 bytes, and a record kept for the job TTL costs Redis ~350 bytes instead of ~1.4 KB
# (bench/REPORT.md, "Redis memory per job"). What is read alone after the end (HGET, HMGET: who owns
# the job, its status, whether it has a webhook) stays a field of its own; a field written after
# packing is a field of its own too, and wins over its packed value.
PACKED_FIELD = "z"
UNPACKED_FIELDS = frozenset({"status", "owner", "webhook"})
# The dictionary's version is the packed value's first byte: a stored record names the dictionary
# it was packed with, so the text of version 1 never changes (a better one is version 2, beside it).
# Its text is the shape of a finished record, the likeliest strings last (deflate finds near ones
# for fewer bits). Written for this project, not taken from any record.
PACKING_DICTIONARY = {1: (
    '"error": {"type": "input_expired", "detail": "the input image expired", "unknown_model", '
    '"worker-crashed", "cached": true, "kind": "translate", "direction": "a2b", "b2a", "kind": "upscale", '
    '"scale": 4, "tile": 256, "image_sha256": "", "image_stored": "artifacts", "hyperparameters": {}, '
    '"progress": {"step": , "total": , "truncation": 0.7, "truncation_psi": 0.7, "format": "webp", "image/webp", '
    '"stored": "artifacts", "lost_runs": 1, "lost_delivery": "1", "image/jpeg", "jpeg", '
    '"kind": "generate", "model": {"name": "mnist-cdcgan", "version": 1}, '
    '"params": {"n": 1, "seed": , "labels": null, "truncation": null, "truncation_psi": null, '
    '"style_mixing": null, "noise_mode": null, "interpolate": null, "codes": null, "format": "png", '
    '"quality": null, "grid": false, "output_ttl_s": 300}, "created_at": "2026-12-08T00:00:00.000000Z", '
    '"started_at": "2026-12-08T00:00:00.000000+00:00", "runner": "", "deliveries": 1, '
    '"finished_at": "2026-12-08T00:00:00.000000+00:00", '
    '"outputs": [{"name": "0.png", "url": "/jobs//outputs/0.png", "content_type": "image/png", "size": , '
    '"sha256": ""}], "metrics": {"inference_s": 0.000, "encode_s": 0.000, "batch_images": 1, "labels": [], '
    '"message_jobs": 1, "run_s": 0.00, "worker": ""}, '
    '"history": [["-0","status","queued"],["-0","status","running"],["-0","status","succeeded"]]}'
).encode()}
PACKING_VERSION = 1


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
    """A record read with HGETALL (None: there is none), packed or not."""
    if not raw:
        return None
    packed = raw.get(PACKED_FIELD.encode())
    fields = unpack_fields(packed) if packed is not None else {}
    fields.update((k.decode(), json.loads(v)) for k, v in raw.items() if k.decode() != PACKED_FIELD)
    return Job.model_validate(fields)


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


def decode_history(raw: bytes | None, after: str, packed: bytes | None = None) -> list[tuple[str, str, Any]]:
    """A finished job's folded events (its record's `history`: [[id, event, data], ...], or the same
    inside its `packed` field) after the stream id `after`, as `decode_events` answers them."""
    if raw:
        history = json.loads(raw)
    elif packed:
        history = unpack_fields(packed).get(HISTORY_FIELD) or []
    else:
        return []
    floor = stream_id(after)
    return [(entry_id, event, data) for entry_id, event, data in history if stream_id(entry_id) > floor]


def pack_fields(raw: dict[bytes, bytes]) -> bytes:
    """Stored fields (JSON values, as HGETALL answers them) as one packed value."""
    body = "{" + ",".join(f"{json.dumps(name.decode())}:{value.decode()}" for name, value in raw.items()) + "}"
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY,
                              PACKING_DICTIONARY[PACKING_VERSION])
    return bytes([PACKING_VERSION]) + packer.compress(body.encode()) + packer.flush()


def unpack_fields(packed: bytes) -> dict[str, Any]:
    """`pack_fields`' value as the decoded fields."""
    unpacker = zlib.decompressobj(-15, PACKING_DICTIONARY[packed[0]])
    return json.loads(unpacker.decompress(packed[1:]) + unpacker.flush())


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
    if HISTORY_FIELD in fields:  # a finished record, packed in a minute as those ending in scripts.py
        pipe.zadd(keys.PACKABLE, {job.id: time.time()})
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
