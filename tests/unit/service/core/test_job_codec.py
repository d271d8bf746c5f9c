"""The job store's encoding, shared by its sync and async sides: what is written reads back the same."""

import json
from datetime import UTC, datetime

from service.core import keys
from service.core.job_store.codec import (
    cache_blobs,
    cache_entry,
    decode_events,
    decode_field,
    decode_record,
    decode_status,
    encode_fields,
    event_fields,
    output_entries,
    stage_blob,
    stage_create,
)
from service.core.jobs import Job, JobStatus, ModelRef


class Recorder:
    """Takes the commands a staged write queues, as a pipeline would (nothing to execute: the
    staging itself is what both sides share)."""

    def __init__(self):
        self.commands = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.commands.append((name, args, kwargs))


def job() -> Job:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Job(id="j1", kind="generate", status=JobStatus.queued, model=ModelRef(name="m", version=2),
               params={"n": 1, "seed": 7}, created_at=when, owner="alice")


def test_a_record_encoded_field_by_field_decodes_to_the_same_job():
    encoded = encode_fields(job().model_dump(mode="json"))
    raw = {name.encode(): value.encode() for name, value in encoded.items()}
    assert decode_record(raw) == job()
    assert decode_record({}) is None
    assert decode_status(raw[b"status"]) == JobStatus.queued and decode_status(None) is None
    assert decode_field(raw[b"owner"]) == "alice" and decode_field(None) is None


def test_events_decode_as_they_were_written():
    fields = event_fields("progress", {"step": 3, "at": datetime(2026, 1, 1, tzinfo=UTC)})
    answer = [[b"stream", [(b"1-0", {k.encode(): v.encode() for k, v in fields.items()})]]]
    assert decode_events(answer) == [("1-0", "progress", {"step": 3, "at": "2026-01-01T00:00:00+00:00"})]
    assert decode_events([]) == []


def test_staging_a_new_job_queues_its_record_stream_and_task():
    pipe = Recorder()
    stage_create(pipe, job(), 60, task={"name": "t", "queue": "q", "kwargs": {}})
    names = [(name, args[0]) for name, args, _ in pipe.commands]
    assert names == [("hset", keys.job("j1")), ("expire", keys.job("j1")), ("xadd", keys.job_events("j1")),
                     ("expire", keys.job_events("j1")), ("set", keys.job_task("j1")), ("zadd", keys.QUEUED)]
    plain = Recorder()
    stage_create(plain, job(), 60)
    assert [name for name, _, _ in plain.commands] == ["hset", "expire", "xadd", "expire"]


def test_a_blob_is_stored_under_its_digest_given_or_computed():
    pipe = Recorder()
    digest = stage_blob(pipe, b"abc", 30)
    assert stage_blob(pipe, b"abc", 30, sha256=digest) == digest
    assert pipe.commands[0] == pipe.commands[1] == ("set", (keys.blob(digest), b"abc"), {"ex": 30})


def test_a_cache_entry_names_the_blobs_it_needs():
    outputs = output_entries("j1", [("0.png", b"a", "image/png"), ("1.png", b"a", "image/png")])
    entry = json.loads(cache_entry("j1", outputs, {"ms": 1}, "alice"))
    assert entry["job_id"] == "j1" and entry["owner"] == "alice"
    assert cache_blobs(entry) == [keys.blob(outputs[0].sha256)]  # the same bytes: one blob
