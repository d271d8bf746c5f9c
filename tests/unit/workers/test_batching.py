"""Dynamic batching gives each request exactly the images it would get alone (over HTTP, with a
real worker: tests/integration/test_batching_api.py)."""

import threading
import time

import numpy as np
import pytest

from models.inference.latents import expand_labels, sample_latents
from models.inference.sessions import open_session
from models.store import ModelStore
from service.core.settings import load_settings
from workers.sessions import LoadedModel


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


def test_io_binding_gives_the_plain_run_s_rows(bundled):
    # The GPU path binds inputs and outputs; here it is exercised on the CPU device.
    from workers.sessions import run_bound

    manifest, session = bundled
    feeds = feeds_for(5, 6, manifest.signature.latent_dim)
    np.testing.assert_array_equal(run_bound(session, feeds, "images", "cpu"), session.run(["images"], feeds)[0])
    bound = LoadedModel(manifest, session, max_batch_size=4, max_delay_ms=1, device="cpu")
    np.testing.assert_array_equal(bound.run(feeds)[0], session.run(["images"], feeds)[0])


def test_the_fp16_variant_is_close_and_chosen_by_policy(tmp_path):
    import shutil

    from models.fp16 import FP16_ATOL, add_fp16_variant
    from workers.sessions import SessionCache

    zoo = load_settings().zoo_dir
    shutil.copytree(zoo / "mnist-cdcgan", tmp_path / "mnist-cdcgan")
    store = ModelStore(tmp_path)
    manifest = add_fp16_variant(store, "mnist-cdcgan:1")
    assert manifest.variants == {"fp16": "model.fp16.onnx"}
    assert 0 < manifest.metrics["fp16_max_abs_diff"] <= FP16_ATOL
    half_file = store.onnx_path(manifest).with_name("model.fp16.onnx")
    assert half_file.stat().st_size < 0.6 * store.onnx_path(manifest).stat().st_size

    options = dict(threads=1, providers=["CPUExecutionProvider"], max_batch_size=1, max_delay_ms=0)
    on_cpu = SessionCache(fp16="cuda", **options)  # the default: fp16 only on a GPU
    assert on_cpu.encoding_of(manifest, store.onnx_path(manifest)).name == "model.onnx"
    forced = SessionCache(fp16="always", **options)
    assert forced.encoding_of(manifest, store.onnx_path(manifest)) == half_file
    feeds = feeds_for(2, 8, manifest.signature.latent_dim)
    full = on_cpu.get(manifest, store.onnx_path(manifest)).run(feeds)[0]
    half = forced.get(manifest, store.onnx_path(manifest)).run(feeds)[0]
    assert half.dtype == np.float32 and 0 < np.abs(full - half).max() <= FP16_ATOL


def test_a_lone_request_runs_in_its_callers_thread_and_a_burst_still_shares_runs():
    from workers.batcher import DynamicBatcher

    ran_in, release = [], threading.Event()

    def infer(feeds):  # a slow model, so that a burst queues behind the first run
        ran_in.append(threading.current_thread().name)
        release.wait(5)
        return feeds["z"] * 2

    batcher = DynamicBatcher(infer, max_batch_size=8, max_delay_ms=20, name="t")
    release.set()
    images, largest = batcher.run({"z": np.ones((1, 2), np.float32)})
    assert ran_in == [threading.current_thread().name] and largest == 1  # no hand-off without load
    np.testing.assert_array_equal(images, np.full((1, 2), 2, np.float32))

    release.clear()
    results = {}

    def submit(i):
        results[i] = batcher.run({"z": np.full((1, 2), i, np.float32)})

    first = threading.Thread(target=submit, args=(0,), name="caller-0")
    first.start()
    deadline = time.monotonic() + 10
    while len(ran_in) < 2:  # the first caller runs alone, in its own thread, and holds the model
        assert time.monotonic() < deadline, ran_in
        time.sleep(0.001)
    burst = [threading.Thread(target=submit, args=(i,), name=f"caller-{i}") for i in range(1, 6)]
    for thread in burst:
        thread.start()
    time.sleep(0.3)  # the others queue behind it, for the batcher's thread
    release.set()
    for thread in [first, *burst]:
        thread.join()
    assert ran_in[1] == "caller-0"
    # The batcher's thread took the first of them before the rest had queued, at most.
    assert set(ran_in[2:]) == {"batcher-t"} and len(ran_in[2:]) <= 2
    for i, (images, _) in results.items():
        np.testing.assert_array_equal(images, np.full((1, 2), 2 * i, np.float32))
