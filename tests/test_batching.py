"""Dynamic batching gives each request exactly the images it would get alone."""

import threading

import numpy as np
import pytest

from models.store import ModelStore
from service.settings import load_settings
from workers.latents import expand_labels, sample_latents
from workers.sessions import LoadedModel, open_session


@pytest.fixture(scope="module")
def bundled():
    store = ModelStore(load_settings().zoo_dir)
    manifest = store.resolve("mnist-cdcgan")
    return manifest, open_session(store.onnx_path(manifest), threads=1, providers=["CPUExecutionProvider"])


def feeds_for(seed: int, n: int, latent_dim: int) -> dict[str, np.ndarray]:
    return {"z": sample_latents(seed, n, latent_dim), "labels": expand_labels([seed % 10], n)}


def test_concurrent_requests_share_runs_and_get_their_own_images(bundled):
    manifest, session = bundled
    latent_dim = manifest.signature.latent_dim
    requests = [(seed, 1 + seed % 5) for seed in range(24)]  # mixed sizes, 72 images in all
    alone = {seed: session.run(["images"], feeds_for(seed, n, latent_dim))[0] for seed, n in requests}

    model = LoadedModel(manifest, session, max_batch_size=16, max_delay_ms=20)
    results, start = {}, threading.Barrier(len(requests))

    def submit(seed: int, n: int) -> None:
        start.wait()
        results[seed] = model.run(feeds_for(seed, n, latent_dim))

    threads = [threading.Thread(target=submit, args=r) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert model.batcher.batches_run < len(requests)  # requests really did share runs
    assert max(batch for _, batch in results.values()) <= 16
    for seed, n in requests:
        images, _ = results[seed]
        assert images.shape[0] == n
        np.testing.assert_array_equal(images, alone[seed])


def test_a_request_larger_than_the_batch_limit_is_split_and_reassembled(bundled):
    manifest, session = bundled
    feeds = feeds_for(3, 37, manifest.signature.latent_dim)
    model = LoadedModel(manifest, session, max_batch_size=8, max_delay_ms=1)
    images, largest = model.run(feeds)
    assert largest == 8
    np.testing.assert_array_equal(images, session.run(["images"], feeds)[0])


def test_batch_size_one_turns_batching_off(bundled):
    manifest, session = bundled
    model = LoadedModel(manifest, session, max_batch_size=1, max_delay_ms=50)
    assert model.batcher is None
    images, largest = model.run(feeds_for(1, 5, manifest.signature.latent_dim))
    assert images.shape[0] == 5 and largest == 5


@pytest.mark.integration
def test_over_http_concurrent_jobs_are_batched_and_match_sequential_runs(stack):
    import concurrent.futures

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
