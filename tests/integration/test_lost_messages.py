"""A queued job whose broker message was lost (a worker killed between popping it and recording
it as unacked, an API killed between recording the job and sending it) is sent again by the
reaper once it has been queued for GANFORGE_LOST_JOB_GRACE_S; a job that merely waits in a
queue is never sent twice."""

import time

import pytest
from conftest import make_stack

from service.core import keys
from service.core.job_store import utcnow
from service.core.jobs import Job, JobStatus
from service.core.queue import create_celery
from service.core.routing import INFERENCE_QUEUE, TRAINING_QUEUE
from service.core.settings import Settings
from workers.reaper import reap_fetched

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-lost-message-tests"
GRACE_S = 3


def _running_events(client, job_id: str) -> int:
    return client.get(f"/jobs/{job_id}/events", timeout=10).text.count('"status": "running"')


def test_a_job_whose_message_was_popped_and_lost_runs_once(tmp_path_factory):
    with make_stack(tmp_path_factory, "lost", GANFORGE_LEASE_TTL_S="6", GANFORGE_LOST_JOB_GRACE_S=str(GRACE_S),
                    GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_api()
        with stack.client() as client:
            ids = [client.post("/generate", json={"model": "mnist-cdcgan", "n": 2}).json()["id"] for _ in range(3)]
            # What a worker killed right after its BRPOP leaves: messages taken off the queue, nowhere else.
            popped = 0
            while stack.redis.rpop(INFERENCE_QUEUE) is not None:
                popped += 1
            assert popped >= 1 and stack.redis.hlen("unacked") == 0
            stack.start_worker(queues=INFERENCE_QUEUE, concurrency=2)
            deadline = time.monotonic() + 60
            pending = set(ids)
            while pending and time.monotonic() < deadline:
                pending = {i for i in pending if client.get(f"/jobs/{i}").json()["status"] != "succeeded"}
                time.sleep(0.3)
            assert not pending, f"lost jobs never ran: {pending}"
            assert all(_running_events(client, i) == 1 for i in ids)
            assert stack.redis.zcard(keys.QUEUED) == 0  # started jobs leave the index


def test_a_job_waiting_in_its_queue_is_not_sent_again(tmp_path_factory):
    with make_stack(tmp_path_factory, "waiting", GANFORGE_LEASE_TTL_S="3", GANFORGE_LOST_JOB_GRACE_S="1",
                    GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker(queues=TRAINING_QUEUE, concurrency=1, name="auditor")  # its reaper audits; it runs no generate
        stack.start_api()
        with stack.client() as client:
            job_id = client.post("/generate", json={"model": "mnist-cdcgan", "n": 2}).json()["id"]
            time.sleep(6)  # several audits, each long past the grace
            assert stack.redis.llen(INFERENCE_QUEUE) == 1, "the waiting job was sent a second time"
            assert not stack.redis.exists(keys.requeue_claim(job_id))
            assert client.get(f"/jobs/{job_id}").json()["status"] == "queued"
            stack.start_worker(queues=INFERENCE_QUEUE, concurrency=1)
            deadline = time.monotonic() + 60
            while client.get(f"/jobs/{job_id}").json()["status"] != "succeeded" and time.monotonic() < deadline:
                time.sleep(0.3)
            assert client.get(f"/jobs/{job_id}").json()["status"] == "succeeded"
            assert _running_events(client, job_id) == 1


def test_a_fetched_job_whose_lease_is_held_waits_for_the_lease(store):
    """A worker that died between taking a job's lease and starting it leaves the job queued and
    leased: sending it again before the lease lapses would hand it to a worker that must leave it."""
    url = store.redis.connection_pool.connection_kwargs
    app = create_celery(Settings(redis_url=f"redis://{url['host']}:{url['port']}/{url.get('db', 0)}"))
    job = Job(id="leased", kind="generate", status=JobStatus.queued, params={"n": 1}, created_at=utcnow())
    store.create(job, task={"name": "ganforge.inference.generate", "queue": INFERENCE_QUEUE, "kwargs": {}})
    store.note_received("leased", "gone-worker")
    assert store.acquire_lease("leased", "gone-worker:1:1", 30)
    assert reap_fetched(store, app, 30) == []
    assert store.received() == {"leased": "gone-worker"}
    store.redis.delete(keys.lease("leased"))  # the lease lapses
    assert reap_fetched(store, app, 30) == ["leased"]
    assert store.received() == {} and store.redis.llen(INFERENCE_QUEUE) == 1
