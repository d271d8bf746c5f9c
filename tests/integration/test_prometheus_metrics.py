"""GET /metrics parsed with prometheus_client's own parser; figures move when jobs run."""

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


def scrape(api) -> dict[str, list]:
    response = api.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(families: dict, sample_name: str, **labels: str) -> float:
    family = families.get(sample_name.removesuffix("_total").removesuffix("_count").removesuffix("_sum"), [])
    return sum(s.value for s in family if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_the_exposition_parses_and_moves_when_jobs_run(api):
    before = scrape(api)
    assert value(before, "ganforge_workers_live", queue="inference") >= 1
    assert "ganforge_queue_depth" in before and "ganforge_jobs_running" in before

    seed = int(time.time() * 1000) % 2**31  # a request this run has not cached yet
    body = {"model": "mnist-cdcgan", "n": 4, "seed": seed}
    first = api.post("/generate", json=body, headers={"Prefer": "wait=30"})
    assert first.status_code == 200 and first.json()["status"] == "succeeded"
    again = api.post("/generate", json=body, headers={"Prefer": "wait=30"})
    assert again.json()["cached"] is True
    api.get("/jobs/does-not-exist")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    deadline = time.monotonic() + 10  # workers and the API flush their figures into Redis every second
    while True:
        after = scrape(api)
        flushed = moved("ganforge_jobs_total", kind="generate", model="mnist-cdcgan:1", outcome="succeeded") >= 1 \
            and moved("ganforge_result_cache_lookups_total", kind="generate", result="hit") >= 1
        if flushed or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert moved("ganforge_jobs_total", kind="generate", model="mnist-cdcgan:1", outcome="succeeded") >= 1
    assert moved("ganforge_job_duration_seconds_count", kind="generate", model="mnist-cdcgan:1") >= 1
    assert moved("ganforge_job_queue_wait_seconds_count", kind="generate") >= 1
    assert moved("ganforge_batch_size_count", model="mnist-cdcgan:1") >= 1
    assert moved("ganforge_result_cache_lookups_total", kind="generate", result="hit") >= 1
    assert moved("ganforge_result_cache_lookups_total", kind="generate", result="miss") >= 1
    assert 0 < value(after, "ganforge_result_cache_hit_ratio", kind="generate") <= 1
    assert moved("ganforge_http_requests_total", method="POST", route="/generate", status="200") == 2
    assert moved("ganforge_http_requests_total", method="GET", route="/jobs/{job_id}", status="404") == 1
    assert moved("ganforge_http_request_duration_seconds_count", method="POST", route="/generate") == 2
    buckets = [s for s in after["ganforge_batch_size"] if s.name == "ganforge_batch_size_bucket"
               and s.labels["model"] == "mnist-cdcgan:1"]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value >= 1


def test_metrics_need_a_key_with_the_metrics_scope(stack):
    from service.core.api_keys import ApiKeyStore

    store = ApiKeyStore(stack.redis)
    scraper, _ = store.create("prometheus", ["metrics"], rate="unlimited")
    caller, _ = store.create("metrics-nosy", ["infer"], rate="unlimited")
    with stack.client(scraper) as allowed, stack.client(caller) as refused, stack.client("gfk_unknown") as unknown:
        assert allowed.get("/metrics").status_code == 200
        assert refused.get("/metrics").status_code == 403
        assert unknown.get("/metrics").status_code == 401


def test_a_running_training_shows_its_progress_and_its_end(api):
    from conftest import wait_for_status

    body = {"architecture": "cdcgan", "dataset": "digits", "model_name": "metrics-never", "image_size": 8,
            "steps": 100_000, "seed": 1, "checkpoint_every": 10_000, "sample_every": 0,
            "hyperparameters": {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}}
    job = api.post("/train", json=body).json()
    wait_for_status(api, job["id"], {"running"}, timeout_s=60)
    before = scrape(api)
    deadline = time.monotonic() + 60
    try:
        while True:
            families = scrape(api)
            if value(families, "ganforge_training_step", job_id=job["id"]) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        api.post(f"/jobs/{job['id']}/cancel")
    assert value(families, "ganforge_training_step", job_id=job["id"]) >= 3
    assert value(families, "ganforge_training_total_steps", job_id=job["id"]) == 100_000
    assert 0 < value(families, "ganforge_training_progress_ratio", job_id=job["id"]) < 1
    assert {s.labels["loss"] for s in families["ganforge_training_loss"] if s.labels["job_id"] == job["id"]}
    assert value(families, "ganforge_jobs_running", kind="train") >= 1

    deadline = time.monotonic() + 15  # the canceled run ends, and the worker counts it
    while value(after := scrape(api), "ganforge_jobs_total", kind="train", outcome="canceled") \
            <= value(before, "ganforge_jobs_total", kind="train", outcome="canceled"):
        assert time.monotonic() < deadline, "the canceled training was not counted"
        time.sleep(0.2)
    assert value(after, "ganforge_training_step", job_id=job["id"]) == 0  # no longer running
