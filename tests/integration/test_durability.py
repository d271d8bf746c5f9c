"""Nothing lost when redis-server is SIGKILLed and started again (same port, same data folder):
every job answered 202 reaches a terminal state and stays readable with its outputs, events and
idempotency key; and a job whose store stays away past the bound fails saying so."""

import threading
import time

import httpx
import pytest
from conftest import make_stack

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-durability-tests"


def submit_steadily(client: httpx.Client, accepted: dict[str, str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        key = f"durable-{n}"
        n += 1
        try:
            response = client.post("/generate", json={"model": "mnist-cdcgan", "n": 2},
                                   headers={"Idempotency-Key": key}, timeout=10)
        except httpx.HTTPError:
            continue
        if response.status_code == 202:
            accepted[key] = response.json()["id"]
        time.sleep(0.02)


def test_a_killed_redis_loses_no_accepted_job(tmp_path_factory):
    with make_stack(tmp_path_factory, "durable", GANFORGE_LEASE_TTL_S="6", GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker()
        stack.start_api()
        accepted: dict[str, str] = {}
        stop = threading.Event()
        with stack.client() as client:
            submitter = threading.Thread(target=submit_steadily, args=(client, accepted, stop))
            submitter.start()
            time.sleep(3)
            before_kill = len(accepted)
            stack.kill_redis()
            time.sleep(2)
            stack.restart_redis()
            time.sleep(3)
            stop.set()
            submitter.join()
            assert before_kill > 10 and len(accepted) > before_kill  # load before and after the restart

            deadline = time.monotonic() + 90
            pending = dict(accepted)
            while pending and time.monotonic() < deadline:
                for key, job_id in list(pending.items()):
                    job = client.get(f"/jobs/{job_id}").json()
                    assert job.get("status") is not None, (job_id, job)  # never a 404
                    if job["status"] in ("succeeded", "failed", "canceled"):
                        del pending[key]
                time.sleep(0.5)
            assert not pending, f"{len(pending)} of {len(accepted)} accepted jobs never finished"

            for key, job_id in accepted.items():
                job = client.get(f"/jobs/{job_id}").json()
                assert job["status"] == "succeeded", job
                assert client.get(job["outputs"][0]["url"]).status_code == 200
                again = client.post("/generate", json={"model": "mnist-cdcgan", "n": 2}, headers={"Idempotency-Key": key})
                assert again.json()["id"] == job_id  # the idempotency key survived
            some = next(iter(accepted.values()))
            events = client.get(f"/jobs/{some}/events", timeout=10).text
            assert "event: status" in events and "event: end" in events


def test_a_worker_rides_out_an_outage_longer_than_30_s(tmp_path_factory):
    with make_stack(tmp_path_factory, "outage", GANFORGE_LEASE_TTL_S="6", GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker()
        stack.start_api()
        worker = stack.children["worker-0"].process
        with stack.client() as client:
            stack.kill_redis()
            time.sleep(32)
            stack.restart_redis()
            assert worker.poll() is None  # the worker lived through it
            deadline = time.monotonic() + 60
            while True:  # the API and worker reconnect by themselves
                response = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1},
                                       headers={"Prefer": "wait=20"}, timeout=30)
                if response.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "succeeded"
