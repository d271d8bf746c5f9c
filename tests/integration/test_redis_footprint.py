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


@pytest.fixture(scope="module")
def footprint_stack(tmp_path_factory):
    with make_stack(tmp_path_factory, "footprint", GANFORGE_ONE_CALL_TTL_S=str(ONE_CALL_TTL_S)) as stack:
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
