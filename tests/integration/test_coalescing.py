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


@pytest.mark.integration
@pytest.mark.parametrize("coalesce", ["1", "0"])
def test_a_job_and_its_message_reach_redis_in_one_transaction(tmp_path_factory, coalesce):
    """No job is ever recorded as queued without the message that names it (and no message
    names a job not yet recorded): the record, the owner's index and kombu's LPUSH go in one
    MULTI/EXEC, coalesced or not."""
    import base64
    import json
    import threading

    import redis

    with make_stack(tmp_path_factory, f"one-transaction-{coalesce}", GANFORGE_COALESCE=coalesce) as stack:
        stack.start_api()  # no worker: the message stays where the API put it
        seen, listening = [], threading.Event()

        def watch():
            with redis.Redis.from_url(stack.redis_url).monitor() as monitor:
                listening.set()
                for entry in monitor.listen():
                    seen.append(entry)
                    if entry["command"].startswith("SET gf-test:stop"):
                        return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        assert listening.wait(10)
        with stack.client() as api:
            answer = api.post("/generate", json={"model": MODEL, "n": 1})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        client = redis.Redis.from_url(stack.redis_url)
        client.set("gf-test:stop", 1)
        watcher.join(10)
        queued = [json.loads(m) for m in client.lrange("inference", 0, -1)]
    assert len(queued) == 1 and job_id in base64.b64decode(queued[0]["body"]).decode()

    commands = [entry["command"] for entry in seen]
    record = next(i for i, c in enumerate(commands) if c.startswith("HSET") and job_id in c.split()[1])
    begin = max(i for i, c in enumerate(commands[:record]) if c == "MULTI")
    end = record + next(i for i, c in enumerate(commands[record:]) if c == "EXEC")
    transaction = commands[begin:end]
    assert sum(c.startswith("LPUSH inference ") for c in transaction) == 1, transaction  # that message
    assert any(c.startswith("ZADD") and job_id in c for c in transaction)  # the queued index, for the reaper
    sender = seen[record]["client_address"], seen[record]["client_port"]
    assert all((e["client_address"], e["client_port"]) == sender for e in seen[begin:end + 1])
