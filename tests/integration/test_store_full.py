"""Redis filled to its memory cap evicts nothing: worker presence and job leases live on (so /ready
does not flap and no job runs twice), everything stored stays, and a new job gets 503 store-full
until there is room again."""

import time

import httpx
import pytest

from service.core import keys
from service.local.stack import LocalStack

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-store-full-tests"


def fill(client, prefix: str, size: int) -> int:
    """Write keys of `size` bytes (with a TTL, like outputs) until Redis refuses; answers how many."""
    import redis

    n = 0
    try:
        while True:
            client.set(f"{prefix}:{n}", b"x" * size, ex=3600)
            n += 1
    except redis.OutOfMemoryError:
        return n


def pin_full(client, margin: int = 4 * 2**20) -> None:
    """Keep the store full for the whole test: right at the cap a write can still squeeze in as
    the server's buffers come and go (it shrinks idle clients' buffers on its own clock), so pin
    the cap under what is used once they have settled, until a small write is refused."""
    import redis

    for _ in range(20):
        time.sleep(0.5)
        client.config_set("maxmemory", client.info("memory")["used_memory"] - margin)
        try:
            client.set("filler:probe", b"x" * 1024, ex=3600)
        except redis.OutOfMemoryError:
            return
        client.delete("filler:probe")
    raise AssertionError("Redis kept taking writes under its cap")


def test_a_full_redis_keeps_presence_and_leases_and_refuses_new_jobs(tmp_path_factory):
    stack = LocalStack(tmp_path_factory.mktemp("full"), {
        "GANFORGE_WORKER_HEARTBEAT_S": "1", "GANFORGE_LEASE_TTL_S": "3", "GANFORGE_ADMIN_KEY": ADMIN_KEY,
        "GANFORGE_TRAIN_EVAL_SAMPLES": "0",
    })
    with stack:
        stack.start_redis(maxmemory="48mb")
        stack.start_worker(concurrency=2)
        stack.start_api()
        redis_client = stack.redis
        with stack.client() as client:
            # A training holds a lease (renewed each second) for as long as the store is full.
            training = client.post("/train", json={
                "architecture": "cdcgan", "dataset": "digits", "model_name": "full-digits", "image_size": 8,
                "steps": 1_000_000, "seed": 1, "checkpoint_every": 0, "sample_every": 0,
                "hyperparameters": {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}}).json()
            deadline = time.monotonic() + 120
            while not redis_client.exists(keys.lease(training["id"])):
                assert time.monotonic() < deadline, "the training never took its lease"
                time.sleep(0.2)

            filled = fill(redis_client, "filler:big", 256 * 1024) + fill(redis_client, "filler:small", 1024)
            assert filled > 10
            pin_full(redis_client)
            refused = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1})
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["type"].endswith("store-full") and "Retry-After" in refused.headers

            # Full for 12 s: four presence TTLs and four lease TTLs.
            ready_codes, lease_seen, presence_seen = [], [], []
            worker_keys = [k for k in redis_client.scan_iter(match=f"{keys.WORKER_PREFIX}*")]
            assert worker_keys
            until = time.monotonic() + 12
            while time.monotonic() < until:
                ready_codes.append(httpx.get(f"{stack.api_url}/ready", timeout=5).status_code)
                lease_seen.append(bool(redis_client.exists(keys.lease(training["id"]))))
                presence_seen.append(redis_client.exists(*worker_keys) == len(worker_keys))
                time.sleep(0.2)
            assert client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}).status_code == 503
            assert set(ready_codes) == {200}, ready_codes
            assert all(lease_seen) and all(presence_seen)
            assert redis_client.info("stats")["evicted_keys"] == 0
            assert len(list(redis_client.scan_iter(match="filler:*", count=1000))) == filled  # nothing dropped
            assert client.get(f"/jobs/{training['id']}").json()["status"] == "running"

            # Room again: new jobs are taken and run.
            for key in redis_client.scan_iter(match="filler:*", count=1000):
                redis_client.delete(key)
            answer = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}, headers={"Prefer": "wait=30"})
            assert answer.status_code == 200 and answer.json()["status"] == "succeeded", answer.text
            assert client.post(f"/jobs/{training['id']}/cancel").status_code in (200, 202)
