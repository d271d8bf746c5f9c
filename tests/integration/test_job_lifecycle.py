"""Cancellation, readiness and Redis outages, each on a stack of the test's own."""

import subprocess
import sys
import time

import pytest
from conftest import wait_for_status

from service.local.redis_server import start_redis
from service.local.stack import REPO

pytestmark = pytest.mark.integration

MODEL = "mnist-cdcgan"


def test_a_canceled_queued_job_never_runs(fresh_stack):
    fresh_stack.start_api()  # and no worker yet: the job must wait in the queue
    with fresh_stack.client() as api:
        assert api.get("/ready").status_code == 503
        # a wait longer than the API's Redis socket timeout (5 s) ends as a 202, not as a 503
        waited = api.post("/generate", json={"model": MODEL, "n": 2, "seed": 1}, headers={"Prefer": "wait=6"})
        assert waited.status_code == 202, waited.text
        job = waited.json()
        assert job["status"] == "queued"
        canceled = api.post(f"/jobs/{job['id']}/cancel")
        assert canceled.status_code == 202 and canceled.json()["status"] == "canceled"
        kept = api.post("/generate", json={"model": MODEL, "n": 1, "seed": 2}).json()

        fresh_stack.start_worker()
        assert wait_for_status(api, kept["id"], {"succeeded", "failed"})["status"] == "succeeded"
        # the worker has consumed the queue in order, so it has seen the canceled job too
        after = api.get(f"/jobs/{job['id']}").json()
        assert after["status"] == "canceled" and after["outputs"] == [] and after["started_at"] is None
        assert api.get("/ready").status_code == 200


def test_redis_outage_is_503_with_retry_after_and_the_api_recovers(fresh_stack):
    fresh_stack.start_api()
    with fresh_stack.client() as api:
        port = fresh_stack.redis_server.port
        fresh_stack.redis_server.stop()
        down = api.post("/generate", json={"model": MODEL, "n": 1})
        assert down.status_code == 503 and down.headers["retry-after"]
        assert down.headers["content-type"] == "application/problem+json"
        assert api.get("/jobs/anything").status_code == 503
        assert api.get("/ready").status_code == 503

        fresh_stack.redis_server = start_redis(fresh_stack.state_dir / "redis2", port=port)
        fresh_stack.register_admin_key()  # the new, empty Redis knows no key yet
        deadline = time.monotonic() + 20
        while api.get("/jobs/anything").status_code != 404:
            assert time.monotonic() < deadline, "the API did not reconnect to Redis"
            time.sleep(0.2)
        assert api.post("/generate", json={"model": MODEL, "n": 1}).status_code == 202


def test_the_api_never_imports_torch_or_onnxruntime():
    probe = (
        "import sys; from service.api.app import create_app; from service.core.settings import Settings; "
        "create_app(Settings(redis_url='redis://127.0.0.1:1/0')); "
        "print(sorted({'torch', 'onnxruntime'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_full_queue_answers_429_with_retry_after(tmp_path_factory):
    from conftest import make_stack

    with make_stack(tmp_path_factory, "backpressure", GANFORGE_MAX_QUEUE_DEPTH=2) as stack:
        stack.start_api()  # no worker: nothing drains the queue
        with stack.client() as api:
            accepted = [api.post("/generate", json={"model": MODEL, "n": 1}).status_code for _ in range(2)]
            refused = api.post("/generate", json={"model": MODEL, "n": 1})
            assert accepted == [202, 202]
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
            assert refused.headers["content-type"] == "application/problem+json"
            assert "inference" in refused.json()["detail"]
            # the bound frees up as soon as a worker drains the queue
            stack.start_worker()
            deadline = time.monotonic() + 30
            while api.post("/generate", json={"model": MODEL, "n": 1}).status_code != 202:
                assert time.monotonic() < deadline
                time.sleep(0.2)
