"""Redis holds only what it must (issue 24, item 3): a finished job's events leave their stream for
a field of its record, a job answered in one call keeps its output only briefly, and a cached
answer whose output expired is computed again. Real Redis, real worker, real HTTP."""

import json
import time

import pytest
from conftest import make_stack

from service.core import keys
from service.core.job_store import JobStore, utcnow
from service.core.job_store.codec import FOLD_MAX_EVENTS
from service.core.job_store.compaction import RecordPacker
from service.core.jobs import Job, JobStatus

pytestmark = pytest.mark.integration

ONE_CALL_TTL_S = 3
PICTURE = {"Accept": "image/png"}
JOB_ID = "GANForge-Job-Id"


def new_job(store: JobStore, job_id: str, kind: str = "generate") -> None:
    store.create(Job(id=job_id, kind=kind, status=JobStatus.queued, params={"n": 1}, created_at=utcnow()))


def test_a_finished_job_keeps_its_events_in_its_record_and_no_stream(store):
    new_job(store, "folded")
    store.start("folded")
    streamed = store.events("folded")
    store.finish("folded", JobStatus.succeeded)
    assert not store.redis.exists(keys.job_events("folded"))
    assert store.events("folded") == [*streamed, store.events("folded")[-1]]  # the same ids as streamed
    assert [data for _, _, data in store.events("folded")] == ["queued", "running", "succeeded"]
    assert [data for _, _, data in store.events("folded", after=streamed[-1][0])] == ["succeeded"]
    assert store.wait("folded", timeout_s=2).status == JobStatus.succeeded


def test_a_training_keeps_its_stream(store):
    new_job(store, "trained", kind="train")
    store.start("trained")
    store.update("trained", "progress", progress={"step": 1})
    store.finish("trained", JobStatus.succeeded)
    assert store.redis.xlen(keys.job_events("trained")) == 4
    assert store.redis.hget(keys.job("trained"), "history") is None


def test_a_long_history_keeps_its_stream(store):
    new_job(store, "evaluated", kind="evaluate")
    store.start("evaluated")
    for step in range(FOLD_MAX_EVENTS):
        store.update("evaluated", "progress", progress={"images": step})
    store.finish("evaluated", JobStatus.succeeded)
    assert store.redis.xlen(keys.job_events("evaluated")) == FOLD_MAX_EVENTS + 3
    assert [data for _, _, data in store.events("evaluated")][-1] == "succeeded"


def test_a_job_forgets_how_it_was_queued_when_it_ends(store):
    store.create(Job(id="queued-once", kind="generate", status=JobStatus.queued, params={"n": 1}, created_at=utcnow()),
                 task={"name": "ganforge.inference.generate", "queue": "inference", "kwargs": {}})
    store.start("queued-once")
    assert store.get_task("queued-once")["queue"] == "inference"  # the reaper may still send it again
    store.finish("queued-once", JobStatus.succeeded)
    assert store.get_task("queued-once") is None


def finished(store: JobStore, job_id: str, **fields) -> Job:
    new_job(store, job_id)
    store.start(job_id, runner="w1")
    store.finish(job_id, JobStatus.succeeded, outputs=[{"name": "0.png", "url": f"/jobs/{job_id}/outputs/0.png",
                                                        "content_type": "image/png", "size": 380, "sha256": "ab" * 32}],
                 metrics={"inference_s": 0.0005, "labels": [3]}, finished_at=utcnow(), **fields)
    return store.get(job_id)


def test_a_packed_record_reads_as_it_did_and_costs_a_fraction(store):
    packer = RecordPacker(store.redis, after_s=0)
    packer.pass_once()  # what earlier tests left
    before = finished(store, "packed")
    events = store.events("packed")
    unpacked_bytes = store.redis.memory_usage(keys.job("packed"), samples=0)
    ttl = store.redis.ttl(keys.job("packed"))

    assert packer.pass_once() == 1
    assert set(store.redis.hkeys(keys.job("packed"))) == {b"z", b"status"}  # owner: none in this job
    assert store.get("packed") == before
    assert store.events("packed") == events and store.events("packed", after=events[0][0]) == events[1:]
    assert store.wait("packed", timeout_s=1) == before
    assert store.status("packed") == JobStatus.succeeded
    assert store.redis.ttl(keys.job("packed")) <= ttl and store.redis.ttl(keys.job("packed")) > 0
    assert store.redis.memory_usage(keys.job("packed"), samples=0) < unpacked_bytes / 2
    assert store.redis.zcard(keys.PACKABLE) == 0 and packer.pass_once() == 0  # packed once


def test_a_field_written_after_packing_wins_and_owner_status_webhook_stay_readable_alone(store):
    packer = RecordPacker(store.redis, after_s=0)
    packer.pass_once()
    store.create(Job(id="owned", kind="generate", status=JobStatus.queued, params={"n": 2}, created_at=utcnow(),
                     owner="alice", webhook={"url": "http://127.0.0.1:9/hook", "events": ["completed"]}))
    store.start("owned")
    store.finish("owned", JobStatus.failed, error={"type": "unknown_model", "detail": "gone"})
    assert packer.pass_once() == 1
    assert store.owner("owned") == "alice" and store.status("owned") == JobStatus.failed
    assert store.redis.hget(keys.job("owned"), "webhook") is not None  # workers/webhooks.py reads it alone
    store.redis.hset(keys.job("owned"), "params", json.dumps({"n": 3}))
    assert store.get("owned").params == {"n": 3} and store.get("owned").error.type == "unknown_model"


def test_a_record_that_changed_since_it_was_read_is_left_whole(store):
    finished(store, "changing")
    raw = store.redis.hgetall(keys.job("changing"))  # as a pass read it
    store.redis.hset(keys.job("changing"), "runner", json.dumps("w2-longer"))  # a late write, then the pack
    lengths = [item for name, value in raw.items() if name != b"status" for item in (name, len(value))]
    packer = RecordPacker(store.redis, after_s=0)
    assert packer._pack(keys=[keys.job("changing")], args=[raw[b"status"], len(raw), b"x", *lengths]) == 0
    assert b"z" not in store.redis.hgetall(keys.job("changing"))
    assert store.get("changing").model_dump()["status"] == "succeeded"


def test_a_cache_hit_born_finished_is_packed_too(store):
    packer = RecordPacker(store.redis, after_s=0)
    packer.pass_once()
    store.create(Job(id="born-finished", kind="generate", status=JobStatus.succeeded, params={"n": 1},
                     created_at=utcnow(), cached=True, finished_at=utcnow()))
    before = store.get("born-finished")
    assert packer.pass_once() == 1
    assert store.redis.hexists(keys.job("born-finished"), "z")
    assert store.get("born-finished") == before
    assert [data for _, _, data in store.events("born-finished")] == ["succeeded"]


@pytest.fixture(scope="module")
def footprint_stack(tmp_path_factory):
    with make_stack(tmp_path_factory, "footprint", GANFORGE_ONE_CALL_TTL_S=str(ONE_CALL_TTL_S),
                    GANFORGE_RECORD_PACK_AFTER_S="0", GANFORGE_LEASE_TTL_S="6") as stack:
        stack.start_worker(queues="inference", concurrency=2)
        stack.start_api()
        yield stack


@pytest.fixture
def client(footprint_stack):
    with footprint_stack.client() as client:
        yield client


def blob_ttl(stack, job: dict) -> int:
    return stack.redis.ttl(keys.blob(job["outputs"][0]["sha256"]))


def sse(client, job_id: str) -> list[tuple[str, str]]:
    """(event, data) of a finished job's /events."""
    lines = client.get(f"/jobs/{job_id}/events", timeout=10).text.splitlines()
    return [(name[len("event: "):], data[len("data: "):]) for name, data in zip(lines, lines[1:])
            if name.startswith("event: ") and data.startswith("data: ")]


def test_a_finished_generate_streams_its_whole_life_from_its_record(footprint_stack, client):
    job = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}, headers={"Prefer": "wait=30"}).json()
    assert job["status"] == "succeeded", job
    assert not footprint_stack.redis.exists(keys.job_events(job["id"]))
    events = sse(client, job["id"])
    assert [(name, json.loads(data).get("status")) for name, data in events] == [
        ("status", "queued"), ("status", "running"), ("status", "succeeded"), ("end", "succeeded")]
    assert "history" not in client.get(f"/jobs/{job['id']}").json()


def test_a_one_call_output_lives_the_short_ttl_and_a_plain_one_the_result_cache_ttl(footprint_stack, client):
    plain = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}, headers={"Prefer": "wait=30"}).json()
    assert plain["status"] == "succeeded" and "output_ttl_s" not in plain["params"]
    assert blob_ttl(footprint_stack, plain) > 600  # the result cache's hour

    picture = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1, "seed": 4242}, headers=PICTURE)
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    job = client.get(f"/jobs/{picture.headers[JOB_ID]}").json()
    assert job["params"]["output_ttl_s"] == ONE_CALL_TTL_S
    assert 0 < blob_ttl(footprint_stack, job) <= ONE_CALL_TTL_S

    kept = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1, "seed": 4243},
                       headers={**PICTURE, "Prefer": "keep-output"})
    assert kept.status_code == 200 and "keep-output" in kept.headers["Preference-Applied"]
    assert blob_ttl(footprint_stack, client.get(f"/jobs/{kept.headers[JOB_ID]}").json()) > 600


def test_a_cache_entry_whose_output_expired_is_a_fresh_miss(footprint_stack, client):
    request = {"model": "mnist-cdcgan", "n": 1, "seed": 777}
    first = client.post("/generate", json=request, headers=PICTURE)
    assert first.status_code == 200
    job = client.get(f"/jobs/{first.headers[JOB_ID]}").json()
    entries = [key for key in footprint_stack.redis.scan_iter(f"{keys.PREFIX}:cache:*")
               if json.loads(footprint_stack.redis.get(key))["job_id"] == job["id"]]
    assert len(entries) == 1 and footprint_stack.redis.ttl(entries[0]) <= ONE_CALL_TTL_S
    footprint_stack.redis.expire(entries[0], 600)  # the entry outlives its blob
    deadline = time.monotonic() + ONE_CALL_TTL_S + 5
    while footprint_stack.redis.exists(keys.blob(job["outputs"][0]["sha256"])):
        assert time.monotonic() < deadline, "the one-call output never expired"
        time.sleep(0.2)

    again = client.post("/generate", json=request, headers=PICTURE)
    assert again.status_code == 200 and again.content == first.content
    fresh = client.get(f"/jobs/{again.headers[JOB_ID]}").json()
    assert fresh["cached"] is False and fresh["id"] != job["id"]  # computed again by a worker
    as_json = client.post("/generate", json=request, headers={"Prefer": "wait=30"}).json()
    assert as_json["cached"] is True and as_json["status"] == "succeeded"
    # A hit whose client keeps its outputs keeps the one-call answer for the result cache's TTL.
    assert blob_ttl(footprint_stack, as_json) > 600
    assert client.get(as_json["outputs"][0]["url"]).status_code == 200


def test_a_workers_reaper_packs_a_finished_record_and_the_api_answers_as_before(footprint_stack, client):
    job = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}, headers={"Prefer": "wait=30"}).json()
    assert job["status"] == "succeeded", job
    before = client.get(f"/jobs/{job['id']}").json()
    events = sse(client, job["id"])
    deadline = time.monotonic() + 30  # a reaper round every lease_ttl_s / 3 = 2 s
    while not footprint_stack.redis.hexists(keys.job(job["id"]), "z"):
        assert time.monotonic() < deadline, "no reaper packed the finished record"
        time.sleep(0.2)
    assert client.get(f"/jobs/{job['id']}").json() == before
    assert sse(client, job["id"]) == events
    listed = client.get("/jobs", params={"limit": 100}).json()
    assert before in listed["jobs"]
    assert client.post(f"/jobs/{job['id']}/cancel").status_code == 409  # finished: nothing to cancel, still no 500
