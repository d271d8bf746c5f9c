"""Concurrent /generate jobs meet in one worker's batches and get what they would get alone."""

import concurrent.futures

import pytest


@pytest.mark.integration
def test_over_http_concurrent_jobs_are_batched_and_match_sequential_runs(stack):
    with stack.client() as api:
        def unseeded(_):
            return api.post("/generate", json={"model": "mnist-cdcgan", "n": 1, "labels": [7]},
                            headers={"Prefer": "wait=30"}).json()

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            concurrent_jobs = list(pool.map(unseeded, range(32)))
        assert all(job["status"] == "succeeded" for job in concurrent_jobs)
        assert max(job["metrics"]["batch_images"] for job in concurrent_jobs) > 1

        for job in concurrent_jobs[:8]:  # the same seeds one at a time: nothing to batch with
            alone = api.post("/generate", json={"model": "mnist-cdcgan", "n": 1, "labels": [7], "seed": job["params"]["seed"]},
                             headers={"Prefer": "wait=30"}).json()
            assert alone["metrics"]["batch_images"] == 1
            assert api.get(alone["outputs"][0]["url"]).content == api.get(job["outputs"][0]["url"]).content
