"""Concurrent /generate jobs leave the API as coalesced Celery messages, and each still gets its
own record, outputs, cache entry and webhook."""

import concurrent.futures

import pytest
from conftest import make_stack
from test_webhooks import SECRET, Receiver

MODEL = "mnist-cdcgan"


@pytest.fixture(scope="module")
def coalescing(tmp_path_factory):
    with make_stack(tmp_path_factory, "coalescing", GANFORGE_WEBHOOK_SECRET=SECRET,
                    GANFORGE_WEBHOOK_ALLOW_PRIVATE=1, GANFORGE_MAX_BATCH_DELAY_MS=20) as stack:
        stack.start_worker("inference", 8)
        stack.start_api()
        yield stack


@pytest.mark.integration
def test_coalesced_jobs_each_keep_their_record_outputs_cache_entry_and_webhook(coalescing):
    receiver = Receiver().start()
    try:
        with coalescing.client() as api:
            def submit(seed: int) -> dict:
                body = {"model": MODEL, "n": 1, "seed": seed, "labels": [seed % 10], "webhook": receiver.url,
                        "webhook_events": ["completed"]}
                return api.post("/generate", json=body, headers={"Prefer": "wait=30"}).json()

            seeds = list(range(1000, 1032))
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                jobs = list(pool.map(submit, seeds))
            assert [job["status"] for job in jobs] == ["succeeded"] * len(seeds)
            assert len({job["id"] for job in jobs}) == len(seeds)
            # Some message carried several jobs: the API coalesced them.
            assert max(job["metrics"]["message_jobs"] for job in jobs) > 1
            pictures = {api.get(job["outputs"][0]["url"]).content for job in jobs}
            assert len(pictures) == len(seeds)  # each job's own image

            for seed, job in zip(seeds, jobs):
                record = api.get(f"/jobs/{job['id']}").json()
                assert record["params"]["seed"] == seed and record["status"] == "succeeded"
                again = submit(seed)
                assert again["cached"] is True and again["metrics"]["cached_from"] == job["id"]
                assert again["outputs"][0]["sha256"] == job["outputs"][0]["sha256"]

            received = receiver.wait_for(2 * len(seeds))  # each job's end, then each cache hit's
            completed = [r["job"]["id"] for r in received if r["event"] == "completed"]
            assert all(completed.count(job["id"]) == 1 for job in jobs)
            assert all(r["verified"] for r in received)
    finally:
        receiver.server.shutdown()


@pytest.mark.integration
def test_a_lone_request_is_not_held_back_and_still_runs_alone(coalescing):
    with coalescing.client() as api:
        job = api.post("/generate", json={"model": MODEL, "n": 1}, headers={"Prefer": "wait=30"}).json()
        assert job["status"] == "succeeded" and job["metrics"]["message_jobs"] == 1
